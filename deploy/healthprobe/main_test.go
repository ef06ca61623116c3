package main

import (
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestProbeHTTP(t *testing.T) {
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(status) }))
	defer srv.Close()
	if err := probe(srv.URL + "/healthz"); err != nil {
		t.Errorf("healthy server: %v", err)
	}
	status = http.StatusServiceUnavailable
	if err := probe(srv.URL + "/healthz"); err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("503: got %v", err)
	}
	if err := probe("ftp://x"); err == nil {
		t.Error("unknown scheme accepted")
	}
}

// fakeKafka answers one ApiVersions request with the given error code.
func fakeKafka(t *testing.T, code int16) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		var size int32
		binary.Read(c, binary.BigEndian, &size)
		req := make([]byte, size)
		io.ReadFull(c, req)
		var resp [10]byte
		binary.BigEndian.PutUint32(resp[0:4], 6)
		copy(resp[4:8], req[4:8]) // correlation id
		binary.BigEndian.PutUint16(resp[8:10], uint16(code))
		c.Write(resp[:])
	}()
	return ln.Addr().String()
}

func TestProbeKafka(t *testing.T) {
	if err := probe("kafka://" + fakeKafka(t, 0)); err != nil {
		t.Errorf("healthy broker: %v", err)
	}
	if err := probe("kafka://" + fakeKafka(t, 35)); err == nil {
		t.Error("error code 35 taken for healthy")
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	if err := probe("kafka://" + addr); err == nil {
		t.Error("closed port taken for a broker")
	}
	if err := probe("tcp://" + addr); err == nil {
		t.Error("closed port taken for open")
	}
}
