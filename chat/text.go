package chat

import (
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxTextRunes is the longest message text, in characters.
const MaxTextRunes = 4000

var identityPattern = regexp.MustCompile(`^[A-Za-z0-9._@-]{1,128}$`)

// CheckText accepts 1 to MaxTextRunes characters of valid UTF-8 that are not
// all white space, with no control characters but newline, carriage return
// and tab, and none of the bidi embeddings, overrides and isolates (UAX #9
// section 2.1 to 2.4), with which "exe.png" is written as "gnp.exe" reversed.
// The marks (LRM, RLM, ALM) and the zero-width joiners stay: mixed
// right-to-left text and emoji sequences need them. Pages show each message
// in a direction isolate, so what a message holds cannot reorder the page.
func CheckText(s string) error {
	if len(s) > utf8.UTFMax*MaxTextRunes {
		return invalid(fmt.Sprintf("text: longer than %d characters", MaxTextRunes))
	}
	if !utf8.ValidString(s) {
		return invalid("text: is not valid UTF-8")
	}
	if strings.TrimSpace(s) == "" {
		return invalid("text: is empty")
	}
	if utf8.RuneCountInString(s) > MaxTextRunes {
		return invalid(fmt.Sprintf("text: longer than %d characters", MaxTextRunes))
	}
	if strings.IndexFunc(s, func(r rune) bool { return unicode.IsControl(r) && r != '\n' && r != '\r' && r != '\t' }) >= 0 {
		return invalid("text: must not contain control characters other than newline and tab")
	}
	if i := strings.IndexFunc(s, isBidiFormatting); i >= 0 {
		r, _ := utf8.DecodeRuneInString(s[i:])
		return invalid(fmt.Sprintf("text: must not contain bidi embedding, override or isolate characters (U+%04X)", r))
	}
	return nil
}

// isBidiFormatting reports the bidi embeddings, overrides, their pop, and the
// isolates: LRE RLE PDF LRO RLO, LRI RLI FSI PDI.
func isBidiFormatting(r rune) bool {
	return (r >= 0x202A && r <= 0x202E) || (r >= 0x2066 && r <= 0x2069)
}

// CheckRecipient accepts an identity as tokens name them: 1 to 128 letters,
// digits or . _ @ -.
func CheckRecipient(to string) error {
	if !identityPattern.MatchString(to) {
		return invalid("to: must be an identity of 1 to 128 letters, digits or . _ @ -")
	}
	return nil
}
