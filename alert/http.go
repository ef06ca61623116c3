package alert

import (
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// ClassifyHTTP turns an HTTP answer into the alert.Sink outcome: 2xx
// delivered; 408, 425, 429 and 5xx retried (429 and 503 after their
// Retry-After); anything else refused for good.
func ClassifyHTTP(resp *http.Response) (retry bool, err error) {
	code := resp.StatusCode
	switch {
	case code >= 200 && code < 300:
		return false, nil
	case code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable:
		err := fmt.Errorf("receiver answered %s", resp.Status)
		if d, ok := ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
			return true, &RetryAfterError{After: d, Err: err}
		}
		return true, err
	case code == http.StatusRequestTimeout || code == http.StatusTooEarly || code >= 500:
		return true, fmt.Errorf("receiver answered %s", resp.Status)
	}
	return false, fmt.Errorf("receiver refused: %s", resp.Status)
}

// ParseRetryAfter parses a Retry-After header: delay seconds or an HTTP date.
// Absurd values are capped at an hour.
func ParseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	var d time.Duration
	if secs, err := strconv.Atoi(v); err == nil {
		d = time.Duration(min(max(secs, 0), 3600)) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	} else {
		return 0, false
	}
	if d < 0 {
		d = 0
	}
	return min(d, time.Hour), true
}
