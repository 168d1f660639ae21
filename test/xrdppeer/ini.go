package xrdppeer

import (
	"strings"
)

// iniSetting is one key=value to force in a section of an xrdp ini file.
type iniSetting struct {
	section, key, value string
}

// setINI returns text (an xrdp or sesman ini file) with key=value in section. It replaces the
// section's first active line for key (xrdp compares names without regard to case; commented
// lines, starting with ';' or '#', are left alone), or else adds the line at the end of the
// section, or else appends the section to the file.
func setINI(text, section, key, value string) string {
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	line := key + "=" + value
	in := false
	last := -1 // index of the last non-blank line of the section
	for i, l := range lines {
		trimmed := strings.TrimSpace(l)
		if strings.HasPrefix(trimmed, "[") && strings.HasSuffix(trimmed, "]") {
			if in {
				break
			}
			in = strings.EqualFold(trimmed[1:len(trimmed)-1], section)
			if in {
				last = i
			}
			continue
		}
		if !in || trimmed == "" {
			continue
		}
		last = i
		if trimmed[0] == ';' || trimmed[0] == '#' {
			continue
		}
		if k, _, ok := strings.Cut(trimmed, "="); ok && strings.EqualFold(strings.TrimSpace(k), key) {
			lines[i] = line
			return strings.Join(lines, "\n") + "\n"
		}
	}
	if last < 0 {
		return strings.Join(append(lines, "", "["+section+"]", line), "\n") + "\n"
	}
	lines = append(lines[:last+1], append([]string{line}, lines[last+1:]...)...)
	return strings.Join(lines, "\n") + "\n"
}

// getINI returns the value of the first active line for key in section, and whether there is one.
func getINI(text, section, key string) (string, bool) {
	in := false
	for _, l := range strings.Split(text, "\n") {
		trimmed := strings.TrimSpace(l)
		if strings.HasPrefix(trimmed, "[") && strings.HasSuffix(trimmed, "]") {
			in = strings.EqualFold(trimmed[1:len(trimmed)-1], section)
			continue
		}
		if !in || trimmed == "" || trimmed[0] == ';' || trimmed[0] == '#' {
			continue
		}
		if k, v, ok := strings.Cut(trimmed, "="); ok && strings.EqualFold(strings.TrimSpace(k), key) {
			return strings.TrimSpace(v), true
		}
	}
	return "", false
}

// applyINI applies settings to text in order.
func applyINI(text string, settings []iniSetting) string {
	for _, s := range settings {
		text = setINI(text, s.section, s.key, s.value)
	}
	return text
}
