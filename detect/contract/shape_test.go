package contract

import "testing"

func TestShapeOf(t *testing.T) {
	tests := []struct {
		v     string
		kind  Kind
		class Class
	}{
		{"", KindEmpty, 0},
		{"42", KindInt, ClassDigit},
		{"-7", KindInt, ClassDigit | ClassPunct},
		{"3.14", KindDecimal, ClassDigit | ClassPunct},
		{"1e-3", KindDecimal, ClassDigit | ClassAlpha | ClassPunct},
		{"-1e309", KindDecimal, ClassDigit | ClassAlpha | ClassPunct},
		{"1e+3099", KindText, ClassDigit | ClassAlpha | ClassPunct}, // exponent too long
		{"true", KindBool, ClassAlpha},
		{"0b5c3a9e-3f1d-4c2a-9e8b-7a6d5c4b3a21", KindUUID, ClassDigit | ClassAlpha | ClassPunct},
		{"2026-03-02", KindDate, ClassDigit | ClassPunct},
		{"2026-03-02T08:00:00Z", KindDate, ClassDigit | ClassAlpha | ClassPunct},
		{"a1b2c3d4", KindHex, ClassDigit | ClassAlpha},
		{"ann.lee+shop@example.com", KindEmail, ClassAlpha | ClassPunct},
		{"SUMMER-2026", KindWord, ClassAlpha | ClassDigit | ClassPunct},
		{"q2Zb/vR7+Xk1Yw9ePp3s0A==", KindBase64, ClassAlpha | ClassDigit | ClassSlash | ClassPunct | ClassAssign},
		{"red shoes", KindText, ClassAlpha | ClassSpace},
		{"café", KindText, ClassAlpha | ClassNonASCII},
		{"1 OR 1=1", KindText, ClassDigit | ClassAlpha | ClassSpace | ClassAssign},
		{"x' OR '1'='1", KindText, ClassAlpha | ClassDigit | ClassSpace | ClassQuote | ClassAssign},
		{"<script>alert(1)</script>", KindText, ClassAngle | ClassAlpha | ClassParen | ClassDigit | ClassSlash},
		{"../../etc/passwd", KindText, ClassDotDot | ClassPunct | ClassSlash | ClassAlpha},
		{"a\r\nSet-Cookie: x", KindText, ClassAlpha | ClassControl | ClassPunct | ClassSpace},
		{"%2e%2e", KindText, ClassPercent | ClassDigit | ClassAlpha},
		{"\xff\xfe", KindText, ClassBadUTF8},
		{"now()", KindText, ClassAlpha | ClassParen},
		{"a;b", KindText, ClassAlpha | ClassSemi},
	}
	for _, tt := range tests {
		s := ShapeOf(tt.v)
		if s.Kind != tt.kind || s.Class != tt.class || s.Len != len(tt.v) {
			t.Errorf("ShapeOf(%q) = %v [%v] %d, want %v [%v]", tt.v, s.Kind, s.Class, s.Len, tt.kind, tt.class)
		}
	}
}

func TestFits(t *testing.T) {
	tests := []struct {
		k       Kind
		learned []Kind
		want    bool
	}{
		{KindInt, []Kind{KindInt}, true},
		{KindInt, []Kind{KindDecimal}, true},
		{KindInt, []Kind{KindWord}, true},
		{KindDecimal, []Kind{KindInt}, false},
		{KindText, []Kind{KindInt}, false},
		{KindText, []Kind{KindWord}, false},
		{KindWord, []Kind{KindText}, true},
		{KindUUID, []Kind{KindUUID}, true},
		{KindInt, []Kind{KindUUID}, false},
		{KindEmpty, []Kind{KindInt}, true},
		{KindEmail, []Kind{KindWord}, false},
	}
	for _, tt := range tests {
		var set uint16
		for _, k := range tt.learned {
			set |= 1 << k
		}
		if got := fits(tt.k, set); got != tt.want {
			t.Errorf("fits(%v, %v) = %v, want %v", tt.k, tt.learned, got, tt.want)
		}
	}
}

// TestLongest: the contract's longest length is the MinClients-th
// longest of distinct clients, so one client's long values do not raise
// it, whatever their number.
func TestLongest(t *testing.T) {
	var p param
	for i, n := range []int{5, 9, 7, 500, 480, 9, 3} {
		h := uint64(i % 4) // clients 0..3; client 3 sends 500, client 0 sends 480 too
		p.learnLen(n, h)
	}
	want := [3]lenClient{{500, 3}, {480, 0}, {9, 1}}
	if p.longest != want {
		t.Errorf("longest %v, want %v", p.longest, want)
	}
}

// FuzzShapeOf: any value classifies without panicking, consistently
// with its bytes.
func FuzzShapeOf(f *testing.F) {
	for _, s := range []string{"", "42", "x' OR 1=1", "\xff", "2026-03-02T", "a@b.c", "-.e"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		s := ShapeOf(v)
		if s.Len != len(v) || s.Kind >= numKinds || (v == "") != (s.Kind == KindEmpty) {
			t.Fatalf("ShapeOf(%q) = %+v", v, s)
		}
		_ = s.Class.String() + s.Kind.String() + quote(v)
	})
}
