package helpmail

import (
	"errors"
	"fmt"
)

// Error codes. They say what kind of failure happened, so that callers (the
// CLI's exit codes, the SMTP reply, the agent's error mail) can react without
// parsing text.
const (
	ECONFLICT     = "conflict"     // the change clashes with the current state
	EINTERNAL     = "internal"     // a bug or an infrastructure failure
	EINVALID      = "invalid"      // the request is malformed or names an unknown value
	ENOTFOUND     = "not_found"    // the ticket, message or row does not exist
	EUNAUTHORIZED = "unauthorized" // the actor may not do this
)

// Error is an application error: a code and a message that is safe to show
// to the person who caused it. Anything that is not an *Error (a database
// failure, say) reads as EINTERNAL, so internals never reach a user.
type Error struct {
	Code    string
	Message string
}

// Error returns the message with its code.
func (e *Error) Error() string { return fmt.Sprintf("helpmail: %s: %s", e.Code, e.Message) }

// Errorf builds an *Error with a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, "" for nil
// and EINTERNAL for any other error.
func ErrorCode(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the safe message of the first *Error in err's chain,
// or "Internal error." for any other error.
func ErrorMessage(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Message
	}
	return "Internal error."
}
