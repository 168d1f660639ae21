package xrdppeer

import "testing"

func TestSetINI(t *testing.T) {
	const base = "[Globals]\n; port=1\nport=3389\nFork=true\n\n[Logging]\nLogFile=xrdp.log\n#EnableSyslog=true\n\n[Xorg]\nparam=a\nparam=b\n"
	tests := map[string]struct {
		section, key, value string
		want                string
	}{
		"replaces the active line, not the comment": {
			"Globals", "port", "tcp://127.0.0.1:1",
			"[Globals]\n; port=1\nport=tcp://127.0.0.1:1\nFork=true\n\n[Logging]\nLogFile=xrdp.log\n#EnableSyslog=true\n\n[Xorg]\nparam=a\nparam=b\n",
		},
		"matches names and sections without regard to case": {
			"globals", "FORK", "false",
			"[Globals]\n; port=1\nport=3389\nFORK=false\n\n[Logging]\nLogFile=xrdp.log\n#EnableSyslog=true\n\n[Xorg]\nparam=a\nparam=b\n",
		},
		"adds a missing key after the section's last line": {
			"Logging", "EnableSyslog", "false",
			"[Globals]\n; port=1\nport=3389\nFork=true\n\n[Logging]\nLogFile=xrdp.log\n#EnableSyslog=true\nEnableSyslog=false\n\n[Xorg]\nparam=a\nparam=b\n",
		},
		"adds a key to the last section": {
			"Xorg", "param", "c", // replaces the first of a repeated key
			"[Globals]\n; port=1\nport=3389\nFork=true\n\n[Logging]\nLogFile=xrdp.log\n#EnableSyslog=true\n\n[Xorg]\nparam=c\nparam=b\n",
		},
		"appends a missing section": {
			"Sessions", "Policy", "UBC",
			base + "\n[Sessions]\nPolicy=UBC\n",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := setINI(base, tc.section, tc.key, tc.value)
			if got != tc.want {
				t.Errorf("setINI(%s, %s=%s):\n%q\nwant\n%q", tc.section, tc.key, tc.value, got, tc.want)
			}
			if v, ok := getINI(got, tc.section, tc.key); !ok || v != tc.value {
				t.Errorf("getINI after setINI = %q, %v; want %q", v, ok, tc.value)
			}
		})
	}
}
