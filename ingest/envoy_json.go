package ingest

// Envoy's json_format keys are the user's choice too; the table follows the
// names in Envoy's and Istio's documentation (Istio's default JSON access
// log uses exactly these), which are also what most hand-written configs
// copy. Upper-case keys ("START_TIME", "RESPONSE_CODE") fold onto the same
// rows.
var envoyJSONKeys = []jsonKey{
	{"start_time", fTime, rankPrimary},
	{"timestamp", fTime, rankFallback},
	{"@timestamp", fTime, rankFallback},

	{"method", fMethod, rankPrimary},
	{"request_method", fMethod, rankFallback},
	// Istio logs "path" as %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%; configs that
	// log both keep the original (pre-rewrite) one apart.
	{"x_envoy_original_path", fTarget, rankPrimary},
	{"original_path", fTarget, rankPrimary},
	{"path", fTarget, rankFallback},
	{"protocol", fIgnore, rankPrimary},
	{"authority", fHost, rankPrimary},
	{"host", fHost, rankFallback},
	{"requested_server_name", fHost, rankFallback},
	{"scheme", fScheme, rankPrimary},
	{"x_forwarded_proto", fScheme, rankFallback},

	{"response_code", fStatus, rankPrimary},
	{"status", fStatus, rankFallback},
	{"response_flags", fIgnore, rankPrimary},
	{"response_code_details", fIgnore, rankPrimary},
	{"connection_termination_details", fIgnore, rankPrimary},
	{"upstream_transport_failure_reason", fIgnore, rankPrimary},
	{"bytes_received", fBytesIn, rankPrimary},
	{"bytes_sent", fBytesOut, rankPrimary},
	{"duration", fLatencyMS, rankPrimary},
	{"request_duration", fIgnore, rankPrimary},
	{"response_duration", fLatencyMS, rankFallback},
	{"upstream_service_time", fLatencyMS, rankFallback},
	{"x_envoy_upstream_service_time", fLatencyMS, rankFallback},

	// downstream_remote_address already honours Envoy's own XFF trust
	// settings; the direct address is the TCP peer.
	{"downstream_remote_address", fRemoteAddr, rankPrimary},
	{"downstream_direct_remote_address", fRemoteAddr, rankFallback},
	{"downstream_local_address", fIgnore, rankPrimary},
	{"x_forwarded_for", fXFF, rankPrimary},
	{"user_agent", fUserAgent, rankPrimary},
	{"referer", fReferer, rankPrimary},
	{"request_id", fRequestID, rankPrimary},
	{"x_request_id", fRequestID, rankFallback},

	{"upstream_host", fIgnore, rankPrimary},
	{"upstream_cluster", fIgnore, rankPrimary},
	{"upstream_local_address", fIgnore, rankPrimary},
	{"route_name", fIgnore, rankPrimary},
	{"traceparent", fIgnore, rankPrimary},

	// mTLS: Istio workload certificates have an empty subject and carry the
	// identity in a SPIFFE URI SAN, so the SAN fills in when no subject was
	// logged.
	{"downstream_peer_subject", fMTLSSubject, rankPrimary},
	{"downstream_peer_uri_san", fMTLSSubject, rankFallback},
	{"downstream_peer_fingerprint_256", fIgnore, rankPrimary},
	{"downstream_tls_version", fTLSVersion, rankPrimary},
	{"downstream_tls_cipher", fIgnore, rankPrimary},

	{"authorization", fAuthorization, rankPrimary},
	{"x_api_key", fAPIKey, rankPrimary},
	{"api_key", fAPIKey, rankFallback},
	{"x_api_version", fVersion, rankPrimary},
}

var envoyJSONSchema = compileJSONSchema(jsonSchemaSpec{
	Format:          "envoy_json",
	Keys:            envoyJSONKeys,
	AllowZeroStatus: true,
})

func init() {
	registerParser("envoy_json", "Envoy/Istio JSON access log (json_format with the documented key names)", envoyJSONSchema.newParser)
}
