package ingest

import (
	"strconv"
	"testing"
)

func TestAPIGatewayAuthOutcome(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status int
		msg    string
		want   AuthOutcome
	}{
		{403, "Forbidden", AuthFailed}, // missing or invalid API key
		{403, "Missing Authentication Token", AuthFailed},
		{403, "The security token included in the request is invalid.", AuthFailed},
		{401, "Unauthorized", AuthFailed},
		{403, "User is not authorized to access this resource with an explicit deny", AuthForbidden},
		{403, "User: arn:aws:iam::123456789012:user/x is not authorized to perform: execute-api:Invoke", AuthForbidden},
		{429, "Too Many Requests", AuthUnknown},
		{502, "Internal server error", AuthUnknown},
	}
	for _, tt := range tests {
		line := `{"requestTimeEpoch":1795429802345,"status":` + strconv.Itoa(tt.status) + `,"error":{"message":"` + tt.msg + `"}}`
		ev, err := parseJSONLine(t, "aws_apigw", line)
		if err != nil {
			t.Fatal(err)
		}
		if ev.Raw.AuthOutcome != tt.want {
			t.Errorf("%d %q: auth %v, want %v", tt.status, tt.msg, ev.Raw.AuthOutcome, tt.want)
		}
	}
}

func TestAPIGatewayNestedAndDottedKeys(t *testing.T) {
	t.Parallel()
	// AWS's flat example keys, $context-style dotted keys and nested objects
	// name the same values.
	lines := []string{
		`{"requestTime":"23/Nov/2026:10:30:00 +0000","status":"200","sourceIp":"192.0.2.1","userAgent":"ua","apiKeyId":"k1","principalId":"p1","httpMethod":"GET","path":"/v1/a","responseLatency":"5","clientCertSubjectDN":"CN=c"}`,
		`{"requestTime":"23/Nov/2026:10:30:00 +0000","status":"200","identity.sourceIp":"192.0.2.1","identity.userAgent":"ua","identity.apiKeyId":"k1","authorizer.principalId":"p1","httpMethod":"GET","path":"/v1/a","responseLatency":"5","identity.clientCert.subjectDN":"CN=c"}`,
		`{"requestTime":"23/Nov/2026:10:30:00 +0000","status":"200","identity":{"sourceIp":"192.0.2.1","userAgent":"ua","apiKeyId":"k1","clientCert":{"subjectDN":"CN=c"}},"authorizer":{"principalId":"p1"},"httpMethod":"GET","path":"/v1/a","responseLatency":"5"}`,
	}
	for i, l := range lines {
		ev, err := parseJSONLine(t, "aws_apigw", l)
		if err != nil {
			t.Fatalf("line %d: %v", i, err)
		}
		r := ev.Raw
		if r.RemoteAddr != "192.0.2.1" || ev.UserAgent != "ua" || r.APIKeyID != "k1" || r.JWTSub != "p1" ||
			r.MTLSSubject != "CN=c" || ev.Method != "GET" || ev.Path != "/v1/a" || ev.Latency.Milliseconds() != 5 || ev.Scheme != "https" {
			t.Errorf("line %d: %+v", i, *ev)
		}
	}
}

func TestAPIGatewayRouteKey(t *testing.T) {
	t.Parallel()
	ev, err := parseJSONLine(t, "aws_apigw", `{"requestTimeEpoch":"1795429802345","status":"200","routeKey":"POST /pets/{petId}"}`)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Method != "POST" || ev.Path != "/pets/{petId}" {
		t.Errorf("routeKey gave %q %q", ev.Method, ev.Path)
	}
	ev, err = parseJSONLine(t, "aws_apigw", `{"requestTimeEpoch":"1795429802345","status":"200","routeKey":"ANY /x","path":"/x/1","httpMethod":"PUT"}`)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Method != "PUT" || ev.Path != "/x/1" {
		t.Errorf("routeKey overrode httpMethod/path: %q %q", ev.Method, ev.Path)
	}
}

func FuzzAWSAPIGateway(f *testing.F) {
	fuzzFormat(f, "aws_apigw", ParserOptions{})
}
