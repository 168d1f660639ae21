// Package keylog turns the keyboard input of a recorded session into a keystroke log, and
// reads the log back for the player. A recorder feeds the client's input events (decoded by
// rdp/input) to a Decoder, and the entries it makes to a Writer.
//
// Keystrokes include whatever the user types, passwords too: the log is as sensitive as the
// session itself, and nothing of it belongs in application logs.
//
// # Decoding
//
// A Decoder follows the client's keyboard through its events. It keeps the keys held down, so
// that it knows the modifiers (Shift, Ctrl, Alt and Win, left and right keys apart) and tells
// auto-repeats (a press of a key already down, or flagged so by a slow-path event) from new
// presses, and the toggle keys (Caps Lock, Num Lock, Scroll Lock), set by each synchronize
// event and flipped by presses. A synchronize event, which clients send when their window gains
// focus, also takes every key as released. Each key press makes at most one entry:
//
//   - a key that types a character gives it as text, through the US keyboard layout (Windows
//     KBDUS): Shift selects the shifted character, and Caps Lock inverts Shift for letters
//     only. Keypad digits and "." type with Num Lock on, and are the navigation keys (Home, Up,
//     ..., Delete) with Num Lock off or Shift held; the keypad operators and Enter always work.
//     Right Alt (AltGr) is a plain Alt, as in KBDUS;
//   - a key that types no character gives its name, with the modifiers held: Enter, Tab,
//     Backspace, Escape, Insert, Delete, Home, End, PageUp, PageDown, Up, Down, Left, Right,
//     F1 to F24, PrintScreen, Pause, Break (Ctrl+Pause), Menu, CapsLock, NumLock,
//     ScrollLock, Clear, media and browser keys; keys outside the layout are named by their
//     scancode: Scan7E, ScanE05A (E0 prefix);
//   - a key pressed with Ctrl, Alt or Win held is a chord: the key's name (letters upper case,
//     other character keys by their unshifted character, Space, keypad keys as Num7, Num+)
//     with the modifiers, Shift included: Ctrl+Shift+T;
//   - a Unicode keyboard event gives its character (both halves of a surrogate pair make
//     one; unpaired halves are dropped), control characters as keys: Enter, Tab, Backspace,
//     Escape, Delete, or U+0001 and so on.
//
// An auto-repeat types again; it does not toggle a lock key again. Releases make no entry,
// except a Win key pressed and released alone (which opens the Start menu): Key "Win".
// Releases without a press (clients send Tab releases when they gain focus), modifiers alone,
// pointer events and the others make none.
//
// # Stored format
//
// The stored log is JSON Lines: UTF-8 text, one JSON object per line, each line ended by "\n",
// records in the order the keys were pressed. A text record holds typed characters, a key
// record a key or a chord:
//
//	{"t":"2026-11-29T10:00:01.234Z","text":"echo hello-rdp"}
//	{"t":"2026-11-29T10:00:03.020Z","key":"Enter"}
//	{"t":"2026-11-29T10:00:05.500Z","key":"Tab","mods":["Shift"]}
//	{"t":"2026-11-29T10:00:07.000Z","key":"Delete","mods":["Ctrl","Alt"]}
//
// The fields:
//
//   - "t" (string, always): when the key was pressed, or the first key of a text record; RFC
//     3339 in UTC, to the millisecond as written (readers accept any RFC 3339 time);
//   - "text" (string): typed characters. Consecutive characters make one record while each
//     follows the previous within MergeWindow (2 s), up to MaxTextRunes (256) characters. A
//     text never has control characters (U+0000-U+001F, U+007F-U+009F) and is at most
//     MaxTextBytes long;
//   - "key" (string): the name of a key or chord key, as listed above: printable ASCII without
//     spaces, at most MaxKeyBytes long;
//   - "mods" (array of strings, with "key" only, left out when empty): the modifiers held, out
//     of "Win", "Ctrl", "Alt", "Shift", written in this order.
//
// A record has exactly one of "text" and "key". Readers skip blank lines and ignore fields
// they do not know: later versions may add fields, but not change these.
//
// # Text form
//
// The text form is a rendering of the stored log for people (RenderText): a line per record,
// its time, a tab, and the text or the key, "<Enter>" or "<Shift+Tab>" for keys, "[Ctrl+C]"
// for chords (keys with Ctrl, Alt or Win):
//
//	2026-11-29T10:00:01.234Z	echo hello-rdp
//	2026-11-29T10:00:03.020Z	<Enter>
//	2026-11-29T10:00:05.500Z	<Shift+Tab>
//	2026-11-29T10:00:07.000Z	[Ctrl+Alt+Delete]
//
// Backslashes and characters that are not graphic (tabs, format characters such as U+200B)
// are escaped in texts ("\\", "\t", "\u200b"), and so is a "<" or "[" that starts one
// ("\[x"): a line is a key exactly when its text starts with "<" or "[".
package keylog
