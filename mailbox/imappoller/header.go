package imappoller

import (
	"bytes"
	"strings"
)

// nextLine returns the line that starts at b[i:], without its terminator,
// and the index just after the terminator. A line ends at CRLF, LF or a lone
// CR: real mail uses all three.
func nextLine(b []byte, i int) (line []byte, next int) {
	for j := i; j < len(b); j++ {
		switch b[j] {
		case '\n':
			return b[i:j], j + 1
		case '\r':
			if j+1 < len(b) && b[j+1] == '\n' {
				return b[i:j], j + 2
			}
			return b[i:j], j + 1
		}
	}
	return b[i:], len(b)
}

// headerOf returns the header of a raw message, up to and including the
// empty line that ends it, as the bytes of raw itself. A message without an
// empty line is all header.
func headerOf(raw []byte) []byte {
	for i := 0; i < len(raw); {
		line, next := nextLine(raw, i)
		if len(line) == 0 {
			return raw[:next]
		}
		i = next
	}
	return raw
}

// returnPath finds the first Return-Path field of a header (the one the
// final delivery added) and returns its address without angle brackets.
// null is true for "<>", the null reverse-path of bounces and other
// automatic mail. ok is false when there is no usable Return-Path.
func returnPath(header []byte) (addr string, null, ok bool) {
	var value []byte
	found := false
	for i := 0; i < len(header); {
		line, next := nextLine(header, i)
		i = next
		if len(line) == 0 {
			break
		}
		if found {
			if line[0] != ' ' && line[0] != '\t' {
				break // the field ended
			}
			value = append(value, line...) // unfold
			continue
		}
		name, rest, hasColon := bytes.Cut(line, []byte(":"))
		if hasColon && strings.EqualFold(string(bytes.TrimRight(name, " \t")), "Return-Path") {
			value = append(value, rest...)
			found = true
		}
	}
	if !found {
		return "", false, false
	}
	v := strings.TrimSpace(string(value))
	if start := strings.IndexByte(v, '<'); start >= 0 {
		v = v[start+1:]
		if end := strings.IndexByte(v, '>'); end >= 0 {
			v = v[:end]
		}
		v = strings.TrimSpace(v)
		return v, v == "", true
	}
	if v == "" {
		return "", false, false
	}
	return v, false, true
}
