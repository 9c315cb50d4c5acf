package helpmail

import (
	"fmt"
	"net/mail"
	"strings"
)

// Commands are the email commands an agent put at the top of a reply
// (SPEC §5). Nil fields were not given.
type Commands struct {
	Status   *Status
	Priority *Priority
	Type     *Type
	Impact   *Impact
	Assign   *string // agent address; "" unassigns
	Take     bool    // assign to the sender
	Note     bool    // the whole message is an internal note
	CC       []CCChange
	// Errors lists what could not be understood, one sentence each. When
	// there is any, nothing of the message is applied.
	Errors []string
}

// CCChange adds or removes a collaborator.
type CCChange struct {
	Add     bool
	Address string
}

// Empty reports whether no command was given.
func (c *Commands) Empty() bool {
	return c.Status == nil && c.Priority == nil && c.Type == nil && c.Impact == nil && c.Assign == nil &&
		!c.Take && !c.Note && len(c.CC) == 0 && len(c.Errors) == 0
}

// ParseCommands reads the command lines at the very top of text: lines of
// the form "#name value", before any other text (blank lines between
// commands are allowed). It returns the commands and the rest of the text
// with the command lines removed. isAgent validates #assign addresses.
// A line such as "#1042 is related" (no command name) ends the commands.
func ParseCommands(text string, isAgent func(string) bool) (Commands, string) {
	var c Commands
	lines := strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n")
	i := 0
	for ; i < len(lines); i++ {
		line := strings.TrimSpace(lines[i])
		if line == "" {
			continue
		}
		if !isCommandLine(line) {
			break
		}
		name, arg, _ := strings.Cut(line[1:], " ")
		name, arg = strings.ToLower(name), strings.TrimSpace(arg)
		c.apply(name, arg, isAgent)
	}
	rest := strings.Join(lines[i:], "\n")
	return c, strings.TrimLeft(rest, "\n")
}

func isCommandLine(line string) bool {
	if len(line) < 2 || line[0] != '#' {
		return false
	}
	c := line[1]
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func (c *Commands) apply(name, arg string, isAgent func(string) bool) {
	fail := func(format string, args ...any) { c.Errors = append(c.Errors, fmt.Sprintf(format, args...)) }
	needArg := func() bool {
		if arg == "" {
			fail("#%s needs a value", name)
			return false
		}
		return true
	}
	switch name {
	case "status":
		if needArg() {
			if s, err := ParseStatus(arg); err != nil {
				fail("#status: %s", ErrorMessage(err))
			} else {
				c.Status = &s
			}
		}
	case "priority":
		if needArg() {
			if p, err := ParsePriority(arg); err != nil {
				fail("#priority: %s", ErrorMessage(err))
			} else {
				c.Priority = &p
			}
		}
	case "type":
		if needArg() {
			if t, err := ParseType(arg); err != nil {
				fail("#type: %s", ErrorMessage(err))
			} else {
				c.Type = &t
			}
		}
	case "impact":
		if needArg() {
			if i, err := ParseImpact(arg); err != nil {
				fail("#impact: %s", ErrorMessage(err))
			} else {
				c.Impact = &i
			}
		}
	case "assign":
		if !needArg() {
			return
		}
		addr := NormalizeAddress(strings.Trim(arg, "<>"))
		if addr == "none" || addr == "nobody" {
			addr = ""
		} else if !isAgent(addr) {
			fail("#assign: %s is not an agent", arg)
			return
		}
		c.Assign = &addr
	case "take":
		c.Take = true
	case "note":
		c.Note = true
	case "cc":
		op, addr, _ := strings.Cut(arg, " ")
		addr = strings.TrimSpace(addr)
		a, err := mail.ParseAddress(addr)
		switch {
		case op != "add" && op != "remove":
			fail("#cc: say \"#cc add <address>\" or \"#cc remove <address>\"")
		case err != nil:
			fail("#cc: %q is not an email address", addr)
		default:
			c.CC = append(c.CC, CCChange{Add: op == "add", Address: NormalizeAddress(a.Address)})
		}
	default:
		fail("unknown command #%s (known: #status, #priority, #type, #impact, #assign, #take, #note, #cc)", name)
	}
}
