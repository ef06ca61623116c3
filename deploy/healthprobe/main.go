// Command healthprobe is the container healthcheck of deploy/compose.yaml
// and deploy/compose.test.yaml. gatewatch's image has no shell, curl or
// wget (distroless static, or scratch in the tests), so the probe is a
// second static binary beside gatewatch in the image:
//
//	healthprobe http://127.0.0.1:9107/healthz   # exit 0 on a 2xx answer
//	healthprobe kafka://127.0.0.1:9092          # a Kafka ApiVersions round trip
//	healthprobe tcp://127.0.0.1:5514            # a TCP connect
//
// It gives up after 4 s (less than every healthcheck's timeout) and exits 1
// with the reason on stderr, which docker shows in `docker inspect`.
package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"time"
)

const timeout = 4 * time.Second

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: healthprobe http://HOST:PORT/PATH | kafka://HOST:PORT | tcp://HOST:PORT")
		os.Exit(2)
	}
	if err := probe(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "healthprobe:", err)
		os.Exit(1)
	}
}

func probe(target string) error {
	u, err := url.Parse(target)
	if err != nil {
		return err
	}
	switch u.Scheme {
	case "http", "https":
		c := &http.Client{Timeout: timeout}
		resp, err := c.Get(target)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
		if resp.StatusCode/100 != 2 {
			return fmt.Errorf("%s answered %s", target, resp.Status)
		}
		return nil
	case "tcp":
		conn, err := net.DialTimeout("tcp", u.Host, timeout)
		if err != nil {
			return err
		}
		return conn.Close()
	case "kafka":
		return kafkaAPIVersions(u.Host)
	}
	return fmt.Errorf("unknown scheme %q", u.Scheme)
}

// kafkaAPIVersions sends ApiVersions v0 (API key 18) and wants error code 0
// back: the broker is up and serving its protocol, not just listening.
func kafkaAPIVersions(addr string) error {
	conn, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(timeout))
	const clientID = "healthprobe"
	var req bytes.Buffer
	binary.Write(&req, binary.BigEndian, int32(2+2+4+2+len(clientID)))
	binary.Write(&req, binary.BigEndian, int16(18)) // ApiVersions
	binary.Write(&req, binary.BigEndian, int16(0))  // version 0
	binary.Write(&req, binary.BigEndian, int32(7))  // correlation id
	binary.Write(&req, binary.BigEndian, int16(len(clientID)))
	req.WriteString(clientID)
	if _, err := conn.Write(req.Bytes()); err != nil {
		return err
	}
	var head [10]byte // size, correlation id, error code
	if _, err := io.ReadFull(conn, head[:]); err != nil {
		return fmt.Errorf("kafka %s: %w", addr, err)
	}
	if id := binary.BigEndian.Uint32(head[4:8]); id != 7 {
		return fmt.Errorf("kafka %s: correlation id %d, want 7", addr, id)
	}
	if code := int16(binary.BigEndian.Uint16(head[8:10])); code != 0 {
		return fmt.Errorf("kafka %s: ApiVersions error code %d", addr, code)
	}
	return nil
}
