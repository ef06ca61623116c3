package series

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/gatewatch/gatewatch/detect/internal/binenc"
)

// Checkpoints.
//
// A checkpoint holds the options and the whole state, so a restored Scorer
// continues bit for bit where the saved one was: floats are stored as
// their IEEE 754 bit patterns, not printed. The Location is stored by
// name and loaded again with time.LoadLocation; a checkpoint taken under
// a zone the restoring machine lacks fails to load rather than silently
// bucketing hours differently.
//
// Layout, version 2 (varints are encoding/binary's, floats little-endian
// bits):
//
//	magic "GWSS", version byte
//	options: kind, direction, seasonality, shifts bytes; half-life ns (varint);
//	  min history, season days (uvarints); p-value, clip, min spread;
//	  location name (uvarint length, bytes)
//	state: n, last, lgap, gaps, recent-history line, seasonal residual
//	  moments, 24 hour buckets,
//	  7 weekday buckets, comparison, run, shift chart, suspect rate,
//	  calibration record (downward then upward bins, their scale, their
//	  weight, then the pending surprise and its direction byte), mean
//	  absolute error
//	CRC-32C of all the above

const (
	checkpointMagic   = "GWSS"
	checkpointVersion = 2
)

// ErrCheckpoint is wrapped by every error UnmarshalBinary returns for
// malformed input.
var ErrCheckpoint = errors.New("series: bad checkpoint")

// MarshalBinary implements encoding.BinaryMarshaler.
func (s *Scorer) MarshalBinary() ([]byte, error) {
	return s.AppendBinary(make([]byte, 0, 1600))
}

// AppendBinary implements encoding.BinaryAppender.
func (s *Scorer) AppendBinary(b []byte) ([]byte, error) {
	s.setup()
	start := len(b)
	o := s.opt
	b = append(b, checkpointMagic...)
	b = append(b, checkpointVersion, byte(o.Kind), byte(o.Direction), byte(o.Seasonality), boolByte(o.Shifts))
	b = binary.AppendVarint(b, int64(o.HalfLife))
	b = binary.AppendUvarint(b, uint64(o.MinHistory))
	b = binary.AppendUvarint(b, uint64(o.SeasonDays))
	b = appendFloats(b, o.PValue, o.Clip, o.MinSpread)
	name := o.Location.String()
	b = binary.AppendUvarint(b, uint64(len(name)))
	b = append(b, name...)

	b = binary.AppendUvarint(b, s.n)
	b = appendFloats(b, s.last, s.lgap)
	b = binary.AppendUvarint(b, uint64(s.ngaps))
	f := &s.flat
	b = appendFloats(b, f.m.w, f.m.w2, f.m.mean, f.m.vari, f.age, f.ctt, f.cty, f.ew, f.ev)
	b = appendFloats(b, s.resid.w, s.resid.w2, s.resid.mean, s.resid.vari)
	for i := range s.hour {
		b = appendBucket(b, &s.hour[i])
	}
	for i := range s.day {
		b = appendBucket(b, &s.day[i])
	}
	b = appendFloats(b, s.cmpFlat, s.cmpSeas, s.cmpW, s.cmpLast)
	b = binary.AppendVarint(b, int64(s.run))
	b = appendFloats(b, s.shift.z, s.shift.v, s.shift.w)
	b = appendFloats(b, s.odd, s.oddW)
	for i := range s.tail {
		b = appendFloats(b, s.tail[i][:]...)
	}
	b = appendFloats(b, s.tailG, s.tailW, s.pend)
	b = append(b, boolByte(s.pendUp))
	b = appendFloats(b, s.mae, s.maeW)
	return binenc.Seal(b, start), nil
}

func appendFloats(b []byte, fs ...float64) []byte { return binenc.AppendFloat(b, fs...) }

func appendBucket(b []byte, k *bucket) []byte {
	b = appendFloats(b, k.w, k.mean, k.ew, k.err, k.last)
	return binary.AppendUvarint(b, uint64(k.visits))
}

// UnmarshalBinary implements encoding.BinaryUnmarshaler: it replaces the
// Scorer's options and state with the checkpoint's. On error the Scorer
// is left unchanged.
func (s *Scorer) UnmarshalBinary(data []byte) error {
	if len(data) < len(checkpointMagic)+1+4 || string(data[:4]) != checkpointMagic {
		return fmt.Errorf("%w: no magic", ErrCheckpoint)
	}
	body, err := binenc.Unseal(data)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrCheckpoint, err)
	}
	if v := body[4]; v != checkpointVersion {
		return fmt.Errorf("%w: version %d, want %d", ErrCheckpoint, v, checkpointVersion)
	}
	r := reader{Reader: binenc.Reader{B: body[5:], Wrap: ErrCheckpoint}}
	var n Scorer
	o := &n.opt
	o.Kind, o.Direction, o.Seasonality = Kind(r.Byte()), Direction(r.Byte()), Seasonality(r.Byte())
	o.Shifts = r.Byte() != 0
	o.HalfLife = time.Duration(r.Varint())
	o.MinHistory = int(min(r.Uvarint(), math.MaxInt32))
	o.SeasonDays = int(min(r.Uvarint(), math.MaxInt32))
	o.PValue, o.Clip, o.MinSpread = r.float(), r.float(), r.float()
	name := r.Bytes(r.Uvarint())

	n.n = r.Uvarint()
	n.last, n.lgap = r.float(), r.float()
	n.ngaps = uint32(min(r.Uvarint(), math.MaxUint32))
	n.flat = recent{m: moments{r.float(), r.float(), r.float(), r.float()}}
	n.flat.age, n.flat.ctt, n.flat.cty, n.flat.ew, n.flat.ev = r.float(), r.float(), r.float(), r.float(), r.float()
	n.resid = moments{r.float(), r.float(), r.float(), r.float()}
	for i := range n.hour {
		r.bucket(&n.hour[i])
	}
	for i := range n.day {
		r.bucket(&n.day[i])
	}
	n.cmpFlat, n.cmpSeas, n.cmpW, n.cmpLast = r.float(), r.float(), r.float(), r.float()
	n.run = int32(max(min(r.Varint(), math.MaxInt32), math.MinInt32+1))
	n.shift = shiftChart{r.float(), r.float(), r.float()}
	n.odd, n.oddW = r.float(), r.float()
	for i := range n.tail {
		for k := range n.tail[i] {
			n.tail[i][k] = r.float()
		}
	}
	n.tailG, n.tailW, n.pend = r.float(), r.float(), r.float()
	n.pendUp = r.Byte() != 0
	n.mae, n.maeW = r.float(), r.float()
	switch {
	case r.Err != nil:
		return r.Err
	case len(r.B) != 0:
		return fmt.Errorf("%w: %d trailing bytes", ErrCheckpoint, len(r.B))
	case r.nonFinite:
		return fmt.Errorf("%w: non-finite value", ErrCheckpoint)
	}
	loc, err := loadLocation(string(name))
	if err != nil {
		return fmt.Errorf("series: checkpoint location: %w", err)
	}
	o.Location = loc
	n.opt = n.opt.normalized()
	n.ready = true
	*s = n
	return nil
}

func loadLocation(name string) (*time.Location, error) {
	switch name {
	case "UTC", "":
		return time.UTC, nil
	case "Local":
		return time.Local, nil
	}
	return time.LoadLocation(name)
}

// reader decodes a checkpoint body, noting non-finite floats, which no
// state holds.
type reader struct {
	binenc.Reader
	nonFinite bool
}

func (r *reader) float() float64 {
	f := r.Float()
	if math.IsNaN(f) || math.IsInf(f, 0) {
		r.nonFinite = true
	}
	return f
}

func (r *reader) bucket(k *bucket) {
	k.w, k.mean, k.ew, k.err, k.last = r.float(), r.float(), r.float(), r.float(), r.float()
	k.visits = uint32(min(r.Uvarint(), math.MaxUint32))
}

func boolByte(b bool) byte {
	if b {
		return 1
	}
	return 0
}
