package ticket

import (
	"fmt"
	"strings"
	"testing"
)

func TestNewParseRoundTrip(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		tk, err := New()
		if err != nil {
			t.Fatal(err)
		}
		if seen[tk.ID] {
			t.Fatalf("duplicate id %s", tk.ID)
		}
		seen[tk.ID] = true
		parsed, err := Parse(tk.Text())
		if err != nil {
			t.Fatalf("parse %s: %v", tk, err)
		}
		if parsed != tk {
			t.Fatalf("round trip changed the ticket")
		}
		if !parsed.Matches(tk.Hash()) {
			t.Fatal("hash does not match")
		}
		if !ValidID(tk.ID) {
			t.Fatalf("ValidID(%q) = false", tk.ID)
		}
	}
}

func TestTextFitsRoutingToken(t *testing.T) {
	tk, err := New()
	if err != nil {
		t.Fatal(err)
	}
	if n := len(tk.Text()); n > 64 {
		t.Fatalf("ticket text is %d characters, want a short token", n)
	}
	// 144 bits of verifier at least 128.
	if verifierBytes*8 < 128 {
		t.Fatal("verifier has fewer than 128 bits")
	}
}

func TestParsePaddedToken(t *testing.T) {
	tk, _ := New()
	got, err := Parse(tk.Text() + " ")
	if err != nil || got != tk {
		t.Fatalf("Parse(padded) = %v, %v", got, err)
	}
}

func TestParseRejects(t *testing.T) {
	tk, _ := New()
	text := tk.Text()
	cases := map[string]string{
		"empty":          "",
		"no prefix":      strings.TrimPrefix(text, "sc1."),
		"other version":  "sc2" + text[3:],
		"no verifier":    "sc1." + tk.ID,
		"short verifier": text[:len(text)-1],
		"long verifier":  text + "A",
		"bad id chars":   "sc1.s-ABCDEFGHIJKLMNOP." + tk.verifier,
		"bad verifier":   "sc1." + tk.ID + "." + strings.Repeat("+", verifierLength),
		"too long":       strings.Repeat("a", MaxTextLength+1),
		"cookie":         "Cookie: mstshash=alice",
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Parse(in)
			if err == nil {
				t.Fatal("accepted")
			}
			if tk.verifier != "" && strings.Contains(err.Error(), tk.verifier) {
				t.Fatal("error contains the verifier")
			}
		})
	}
}

func TestStringHidesVerifier(t *testing.T) {
	tk, _ := New()
	for _, s := range []string{tk.String(), fmt.Sprint(tk), fmt.Sprintf("%v %+v %#v %s", tk, tk, tk, tk)} {
		if strings.Contains(s, tk.verifier) {
			t.Fatalf("%q shows the verifier", s)
		}
	}
}

func TestMatchesRejects(t *testing.T) {
	a, _ := New()
	b, _ := New()
	for _, h := range []string{b.Hash(), "", "zz", a.Hash()[:10], strings.ToUpper(a.Hash()) + "00"} {
		if a.Matches(h) {
			t.Fatalf("Matches(%q) = true", h)
		}
	}
}

func FuzzParse(f *testing.F) {
	tk, _ := New()
	f.Add(tk.Text())
	f.Add(tk.Text() + "  ")
	f.Add("sc1.s-aaaaaaaaaaaaaaaa.AAAAAAAAAAAAAAAAAAAAAAAA")
	f.Add("tsv://MS Terminal Services Plugin.1.ssc_Zm9vYmFyYmF6cXV4MTIzNDU2")
	f.Add("Cookie: mstshash=alice")
	f.Fuzz(func(t *testing.T, in string) {
		got, err := Parse(in)
		if err != nil {
			return
		}
		again, err := Parse(got.Text())
		if err != nil || again != got {
			t.Fatalf("parsed ticket does not round trip: %v", err)
		}
		if !ValidID(got.ID) {
			t.Fatal("parsed an invalid id")
		}
	})
}

func BenchmarkNew(b *testing.B) {
	for b.Loop() {
		if _, err := New(); err != nil {
			b.Fatal(err)
		}
	}
}
