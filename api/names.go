package api

import (
	"fmt"
	"unicode"
)

// maxMarksInRow bounds combining marks on one character: scripts need up to
// about three (Thai, Vietnamese, Tibetan), stacks beyond draw over other lines.
const maxMarksInRow = 4

// Characters that are letters or symbols to Unicode but draw nothing, used to
// make a name look empty or like another.
var invisibleLetters = map[rune]bool{
	0x115F: true, 0x1160: true, 0x3164: true, 0xFFA0: true, // Hangul fillers
	0x17B4: true, 0x17B5: true, // Khmer inherent vowels
	0x2800: true, // Braille blank
}

// checkName says what makes s, a name others will see, unfit, or returns "".
// Refused: control characters and line separators; the bidi controls (they
// reorder what follows: "admin\u202egnp.exe" draws as "adminexe.png");
// zero-width and other invisible format characters ("Spe\u200bak\u200der"
// draws as "Speaker"); blank letters; long stacks of combining marks.
//
// Kept: every script's letters, including right-to-left ones (the pages
// isolate each name's direction), and the format characters that real text
// needs where it needs them: the zero-width joiner inside emoji sequences
// (👩‍💻) and between letters of scripts that join (Arabic, Indic), the
// zero-width non-joiner between such letters (Persian), and tag characters in
// the flag sequences that start with U+1F3F4.
func checkName(s string) string {
	rs := []rune(s)
	marks := 0
	for i, r := range rs {
		var prev, next rune = -1, -1
		if i > 0 {
			prev = rs[i-1]
		}
		if i+1 < len(rs) {
			next = rs[i+1]
		}
		if unicode.IsMark(r) {
			if marks++; marks > maxMarksInRow {
				return fmt.Sprintf("must not stack more than %d combining marks on one character", maxMarksInRow)
			}
		} else {
			marks = 0
		}
		switch {
		case unicode.IsControl(r) || unicode.In(r, unicode.Zl, unicode.Zp):
			return "must not contain control characters or line breaks"
		case isBidiControl(r):
			return fmt.Sprintf("must not contain direction-changing characters (U+%04X)", r)
		case invisibleLetters[r]:
			return fmt.Sprintf("must not contain blank characters (U+%04X)", r)
		case !unicode.Is(unicode.Cf, r):
		case r == zwj && (emojiBefore(prev) && emojiAfter(next) || joiningLetter(prev) && joiningLetter(next)):
		case r == zwnj && joiningLetter(prev) && joiningLetter(next):
		case isTag(r) && (prev == blackFlag || isTag(prev)) && (r == cancelTag || isTag(next)):
		default:
			return fmt.Sprintf("must not contain invisible characters (U+%04X)", r)
		}
	}
	return ""
}

const (
	zwnj      = 0x200C
	zwj       = 0x200D
	blackFlag = 0x1F3F4
	cancelTag = 0xE007F
)

// isBidiControl reports the explicit directional formatting characters
// (Unicode Bidirectional Algorithm, UAX #9 section 2): marks, embeddings,
// overrides and isolates.
func isBidiControl(r rune) bool {
	return r == 0x061C || r == 0x200E || r == 0x200F || (r >= 0x202A && r <= 0x202E) || (r >= 0x2066 && r <= 0x2069)
}

func isTag(r rune) bool { return r >= 0xE0020 && r <= 0xE007F }

// emojiBefore reports whether r may end the emoji before a joiner: a symbol,
// a skin tone modifier or the emoji presentation selector.
func emojiBefore(r rune) bool {
	return r == 0xFE0F || unicode.In(r, unicode.So, unicode.Sk)
}

// emojiAfter reports whether r may start the emoji after a joiner.
func emojiAfter(r rune) bool { return unicode.Is(unicode.So, r) }

// joiningLetter reports whether r is a letter or mark of a script where the
// joiners change how letters connect. Latin, Greek, Cyrillic and Armenian are
// not: there a joiner only hides between letters.
func joiningLetter(r rune) bool {
	if r < 0 || !(unicode.IsLetter(r) || unicode.IsMark(r)) {
		return false
	}
	return !unicode.In(r, unicode.Latin, unicode.Greek, unicode.Cyrillic, unicode.Armenian, unicode.Common, unicode.Inherited)
}
