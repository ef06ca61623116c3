package ingest

// nginx writes JSON with log_format ... escape=json '{"key":"$var",...}'. The
// key names are the user's choice, so the table maps the names people
// actually use: the variable's own name, with and without the http_ and
// request_ prefixes, and the common aliases. Keys nested under an object,
// or spelled with a prefix and a dot ("nginx.remote_addr"), are matched by
// their last segment.
var nginxJSONKeys = []jsonKey{
	// Time: $msec has millisecond precision, so it wins over the others.
	{"msec", fTime, rankPrimary},
	{"time_local", fTime, rankFallback},
	{"time_iso8601", fTime, rankFallback},
	{"time", fTime, rankFallback},
	{"timestamp", fTime, rankFallback},
	{"@timestamp", fTime, rankFallback},
	{"ts", fTime, rankFallback},

	{"remote_addr", fRemoteAddr, rankPrimary},
	{"client_ip", fRemoteAddr, rankPrimary},
	{"remote_ip", fRemoteAddr, rankPrimary},
	{"clientip", fRemoteAddr, rankPrimary},
	{"client", fRemoteAddr, rankFallback},
	{"realip_remote_addr", fIgnore, rankPrimary},
	{"remote_port", fIgnore, rankPrimary},
	{"remote_user", fIgnore, rankPrimary}, // unverified unless auth_basic passed; never an identity

	{"request", fRequestLine, rankPrimary},
	{"request_method", fMethod, rankPrimary},
	{"method", fMethod, rankPrimary},
	{"request_uri", fTarget, rankPrimary},
	{"uri", fPath, rankPrimary},
	{"path", fPath, rankPrimary},
	{"args", fQuery, rankPrimary},
	{"query_string", fQuery, rankPrimary},
	{"query", fQuery, rankFallback},
	{"server_protocol", fIgnore, rankPrimary},
	{"protocol", fIgnore, rankPrimary},

	{"status", fStatus, rankPrimary},
	{"status_code", fStatus, rankPrimary},
	{"body_bytes_sent", fBytesOut, rankPrimary},
	{"bytes_sent", fBytesOut, rankFallback}, // includes the response headers
	{"request_length", fBytesIn, rankPrimary},
	{"request_time", fLatencySec, rankPrimary},
	{"duration", fLatencySec, rankPrimary},
	{"upstream_response_time", fLatencySec, rankFallback},
	{"upstream_connect_time", fIgnore, rankPrimary},
	{"upstream_header_time", fIgnore, rankPrimary},
	{"upstream_addr", fIgnore, rankPrimary},
	{"upstream_status", fIgnore, rankPrimary},

	{"http_referer", fReferer, rankPrimary},
	{"referer", fReferer, rankPrimary},
	{"referrer", fReferer, rankPrimary},
	{"http_user_agent", fUserAgent, rankPrimary},
	{"user_agent", fUserAgent, rankPrimary},
	{"http_x_forwarded_for", fXFF, rankPrimary},
	{"x_forwarded_for", fXFF, rankPrimary},
	{"xff", fXFF, rankFallback},
	{"http_x_real_ip", fIgnore, rankPrimary},
	{"host", fHost, rankPrimary},
	{"http_host", fHost, rankFallback},
	{"server_name", fHost, rankFallback},
	{"server_addr", fIgnore, rankPrimary},
	{"server_port", fIgnore, rankPrimary},
	{"scheme", fScheme, rankPrimary},
	{"http_x_forwarded_proto", fScheme, rankFallback},
	{"ssl_protocol", fTLSVersion, rankPrimary},
	{"tls_version", fTLSVersion, rankPrimary},
	{"ssl_cipher", fIgnore, rankPrimary},
	{"ssl_client_s_dn", fMTLSSubject, rankPrimary},
	{"ssl_client_verify", fClientVerify, rankPrimary},

	{"request_id", fRequestID, rankPrimary},
	{"http_x_request_id", fRequestID, rankFallback},
	{"x_request_id", fRequestID, rankFallback},
	{"http_x_api_key", fAPIKey, rankPrimary},
	{"x_api_key", fAPIKey, rankPrimary},
	{"http_apikey", fAPIKey, rankFallback},
	{"api_key", fAPIKey, rankFallback},
	{"http_authorization", fAuthorization, rankPrimary},
	{"authorization", fAuthorization, rankPrimary},
	{"jwt_claim_sub", fJWTSub, rankPrimary},
	{"jwt_sub", fJWTSub, rankPrimary},
	{"http_x_api_version", fVersion, rankPrimary},
	{"api_version", fVersion, rankFallback},
}

var nginxJSONSchema = compileJSONSchema(jsonSchemaSpec{
	Format:       "nginx_json",
	Keys:         nginxJSONKeys,
	LeafFallback: true,
})

func init() {
	registerParser("nginx_json", "nginx JSON access log (log_format escape=json), keys matched by variable name and common aliases", nginxJSONSchema.newParser)
}
