package hostmatch

import "testing"

func TestAllowed(t *testing.T) {
	cases := map[string]struct {
		patterns []string
		machine  string
		want     bool
	}{
		"exact host":               {[]string{"web01.corp.example"}, "WEB01.corp.example", true},
		"exact host other":         {[]string{"web01.corp.example"}, "web02.corp.example", false},
		"host with port":           {[]string{"web01:3390"}, "web01:3390", true},
		"host with other port":     {[]string{"web01:3390"}, "web01", false},
		"any port":                 {[]string{"web01"}, "web01:4000", true},
		"label wildcard":           {[]string{"web*.corp.example"}, "web17.corp.example", true},
		"wildcard stays in label":  {[]string{"web*.example"}, "web1.corp.example", false},
		"subdomain wildcard":       {[]string{"*.corp.example"}, "a.b.corp.example", true},
		"subdomain not apex":       {[]string{"*.corp.example"}, "corp.example", false},
		"cidr":                     {[]string{"10.1.0.0/16"}, "10.1.2.3", true},
		"cidr outside":             {[]string{"10.1.0.0/16"}, "10.2.0.1:3389", false},
		"cidr with port":           {[]string{"10.1.0.0/16:3390"}, "10.1.2.3:3390", true},
		"cidr with other port":     {[]string{"10.1.0.0/16:3390"}, "10.1.2.3", false},
		"ip":                       {[]string{"127.0.0.1"}, "127.0.0.1:13389", true},
		"ipv6":                     {[]string{"::1"}, "[::1]:3389", true},
		"no patterns":              {nil, "web01", false},
		"wildcard does not hit ip": {[]string{"*.0.0.1"}, "127.0.0.1", false},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			target, err := ParseTarget(tc.machine)
			if err != nil {
				t.Fatal(err)
			}
			if got := Allowed(tc.patterns, target); got != tc.want {
				t.Fatalf("Allowed(%v, %v) = %v", tc.patterns, target, got)
			}
		})
	}
}

func TestParseTarget(t *testing.T) {
	good := map[string]string{
		"web01":           "web01:3389",
		"Web01.Corp.":     "web01.corp:3389",
		"10.0.0.1:3390":   "10.0.0.1:3390",
		"[::1]:3389":      "[::1]:3389",
		"::ffff:10.0.0.1": "10.0.0.1:3389",
	}
	for in, want := range good {
		got, err := ParseTarget(in)
		if err != nil || got.String() != want {
			t.Errorf("ParseTarget(%q) = %v, %v; want %s", in, got, err, want)
		}
	}
	for _, in := range []string{"", "web01:0", "web01:99999", "web 01", "-bad", "a..b", "host:port:x"} {
		if _, err := ParseTarget(in); err == nil {
			t.Errorf("ParseTarget(%q) accepted", in)
		}
	}
}

func TestValidate(t *testing.T) {
	for _, p := range []string{"web01", "*.corp", "10.0.0.0/8", "10.0.0.0/8:3390", "web[0-9]"} {
		if err := Validate(p); err != nil {
			t.Errorf("Validate(%q) = %v", p, err)
		}
	}
	for _, p := range []string{"", "10.0.0.0/99", "web01:0", "web[", "h:x"} {
		if err := Validate(p); err == nil {
			t.Errorf("Validate(%q) accepted", p)
		}
	}
}

func FuzzParseTarget(f *testing.F) {
	for _, s := range []string{"web01", "10.0.0.1:3390", "[::1]:3389", "a..b", "*.corp"} {
		f.Add(s, "*.corp")
	}
	f.Fuzz(func(t *testing.T, machine, pattern string) {
		target, err := ParseTarget(machine)
		if err != nil {
			return
		}
		again, err := ParseTarget(target.String())
		if err != nil || again != target {
			t.Fatalf("target %v does not round trip: %v %v", target, again, err)
		}
		_ = Allowed([]string{pattern}, target)
		_ = Validate(pattern)
	})
}
