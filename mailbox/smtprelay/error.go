package smtprelay

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/emersion/go-smtp"
)

// Error is what Send returns when a step fails. Its text is meant for the
// operator: "smtprelay: rcpt <bob@example.com>: 550 5.1.1 No such user".
type Error struct {
	// Op names the step: "envelope", "config", "dial", "hello",
	// "starttls", "auth", "mail", "rcpt <address>" or "data".
	Op string
	// Err is the cause: an *smtp.SMTPError for a reply from the relay,
	// otherwise a network, TLS, context or local error.
	Err error

	permanent bool
}

// Error returns the step and the cause, with a reply written as code,
// enhanced code and text.
func (e *Error) Error() string {
	return "smtprelay: " + e.Op + ": " + describe(e.Err)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Temporary reports whether sending the same message again later may
// succeed.
func (e *Error) Temporary() bool { return !e.permanent }

// replyError wraps an error from a step where the relay's reply decides:
// a 5xx reply is permanent, anything else (4xx, network) temporary.
func replyError(op string, err error) *Error {
	var se *smtp.SMTPError
	return &Error{Op: op, Err: err, permanent: errors.As(err, &se) && se.Code/100 == 5}
}

// connError wraps an error from setting up the connection: always
// temporary, because it is about the relay or its configuration, not
// about this message.
func connError(op string, err error) *Error {
	return &Error{Op: op, Err: err}
}

// permanent wraps an error that no retry can cure.
func permanent(op string, err error) *Error {
	return &Error{Op: op, Err: err, permanent: true}
}

// withContext puts ctx's error in front of a temporary error that ctx's
// end may have caused by closing the connection ("use of closed network
// connection"). A permanent error stays as it is: the relay replied.
func withContext(ctx context.Context, err error) error {
	var e *Error
	if ctx.Err() == nil || !errors.As(err, &e) || e.permanent {
		return err
	}
	return &Error{Op: e.Op, Err: fmt.Errorf("%w (%w)", context.Cause(ctx), e.Err)}
}

// describe writes an SMTP reply as "550 5.1.1 text" on one line.
func describe(err error) string {
	var se *smtp.SMTPError
	if !errors.As(err, &se) {
		return err.Error()
	}
	text := strings.Join(strings.Fields(se.Message), " ")
	if se.EnhancedCode == smtp.EnhancedCodeNotSet || se.EnhancedCode == smtp.NoEnhancedCode {
		return fmt.Sprintf("%d %s", se.Code, text)
	}
	c := se.EnhancedCode
	return fmt.Sprintf("%d %d.%d.%d %s", se.Code, c[0], c[1], c[2], text)
}
