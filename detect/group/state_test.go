package group

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

func TestStateRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []stateHeader{
		{},
		{Offset: 1, Findings: 2, Newest: 3, NextIndex: 4},
		{Offset: 1 << 62, Findings: 1 << 63, Newest: -5, NextIndex: 1 << 40},
	}
	for _, h := range tests {
		snap := []byte("GWDS snapshot bytes")
		rec := append(appendState(nil, h), snap...)
		got, rest, err := decodeState(rec)
		if err != nil {
			t.Fatalf("decodeState(%+v): %v", h, err)
		}
		if got != h || !bytes.Equal(rest, snap) {
			t.Errorf("decodeState = %+v, %q; want %+v, %q", got, rest, h, snap)
		}
	}
}

func TestDecodeStateRejects(t *testing.T) {
	t.Parallel()
	good := appendState(nil, stateHeader{Offset: 300, Findings: 7, Newest: 1e18, NextIndex: 2})
	tests := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"magic only", []byte(stateMagic)},
		{"wrong magic", append([]byte("GWDS"), good[4:]...)},
		{"future version", append(append([]byte(stateMagic), stateVersion+1), good[5:]...)},
		{"offset below -1", appendState(nil, stateHeader{Offset: -2})},
		{"truncated", good[:len(good)-1]},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if _, _, err := decodeState(tc.data); !errors.Is(err, errState) {
				t.Errorf("decodeState(%q) = %v, want errState", tc.data, err)
			}
		})
	}
}

func FuzzDecodeState(f *testing.F) {
	f.Add(appendState(nil, stateHeader{Offset: 300, Findings: 7, Newest: 1e18, NextIndex: 2}))
	f.Add([]byte(stateMagic + "\x01"))
	f.Fuzz(func(t *testing.T, data []byte) {
		h, rest, err := decodeState(data)
		if err != nil {
			return
		}
		// What decodes re-encodes to the same values (not necessarily
		// the same bytes: varints have non-minimal encodings).
		h2, rest2, err := decodeState(append(appendState(nil, h), rest...))
		if err != nil || h2 != h || !bytes.Equal(rest2, rest) {
			t.Fatalf("re-decode of %+v: %+v, %v", h, h2, err)
		}
	})
}

// TestSaneClock checks which restored watermarks are trusted.
func TestSaneClock(t *testing.T) {
	now := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		wm   time.Time
		want bool
	}{
		{time.Time{}, true},
		{now.Add(-24 * time.Hour), true},
		{now.Add(30 * time.Minute), true},
		{now.Add(2 * time.Hour), false},
		{time.Date(2150, 1, 1, 0, 0, 0, 0, time.UTC), false},
	} {
		if got := saneClock(tc.wm, now); got != tc.want {
			t.Errorf("saneClock(%s) = %v, want %v", tc.wm, got, tc.want)
		}
	}
}
