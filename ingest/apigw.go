package ingest

// AWS API Gateway writes whatever JSON template the user configured, with
// $context variables as values. The table accepts the key names of AWS's
// documented example templates (flat: "requestId", "ip", "httpMethod", ...),
// the variable names themselves ("identity.sourceIp"), and the same paths
// as nested objects. API Gateway serves HTTPS only, hence the default
// scheme.
var apigwKeys = []jsonKey{
	{"requestTimeEpoch", fTime, rankPrimary}, // epoch ms
	{"requestTime", fTime, rankFallback},     // "23/Nov/2026:10:00:00 +0000", second precision

	{"requestId", fRequestID, rankPrimary},
	{"extendedRequestId", fRequestID, rankFallback},
	{"xrayTraceId", fIgnore, rankPrimary},
	{"apiId", fIgnore, rankPrimary},
	{"stage", fIgnore, rankPrimary},
	{"accountId", fIgnore, rankPrimary},

	{"ip", fRemoteAddr, rankPrimary},
	{"sourceIp", fRemoteAddr, rankPrimary},
	{"identity.sourceIp", fRemoteAddr, rankPrimary},
	{"userAgent", fUserAgent, rankPrimary},
	{"identity.userAgent", fUserAgent, rankPrimary},
	{"caller", fIgnore, rankPrimary},
	{"user", fIgnore, rankPrimary},
	{"identity.caller", fIgnore, rankPrimary},
	{"identity.user", fIgnore, rankPrimary},
	// A SigV4-signed request's IAM principal was verified by API Gateway.
	{"userArn", fJWTSub, rankFallback},
	{"identity.userArn", fJWTSub, rankFallback},
	{"apiKeyId", fAPIKeyID, rankPrimary},
	{"identity.apiKeyId", fAPIKeyID, rankPrimary},
	{"apiKey", fAPIKey, rankPrimary},
	{"identity.apiKey", fAPIKey, rankPrimary},
	{"clientCertSubjectDN", fMTLSSubject, rankPrimary},
	{"identity.clientCert.subjectDN", fMTLSSubject, rankPrimary},

	{"httpMethod", fMethod, rankPrimary},
	{"method", fMethod, rankFallback},
	{"path", fPath, rankPrimary},          // the request path (REST: with the stage)
	{"resourcePath", fPath, rankFallback}, // the resource template, /orders/{id}
	{"routeKey", fRouteKey, rankPrimary},  // "GET /orders/{id}" (HTTP APIs)
	{"protocol", fIgnore, rankPrimary},
	{"domainName", fHost, rankPrimary},
	{"domainPrefix", fIgnore, rankPrimary},

	{"status", fStatus, rankPrimary},
	{"responseLength", fBytesOut, rankPrimary},
	{"responseLatency", fLatencyMS, rankPrimary},
	{"latency", fLatencyMS, rankFallback},
	{"integrationLatency", fLatencyMS, rankFallback},
	{"integration.latency", fLatencyMS, rankFallback},
	{"integrationStatus", fIgnore, rankPrimary},
	{"integration.status", fIgnore, rankPrimary},
	{"integrationErrorMessage", fIgnore, rankPrimary},
	{"responseType", fIgnore, rankPrimary},
	{"wafResponseCode", fIgnore, rankPrimary},

	{"principalId", fJWTSub, rankFallback},
	{"authorizer.principalId", fJWTSub, rankFallback},
	{"authorizer.claims.sub", fJWTSub, rankPrimary},
	{"authorizer.jwt.claims.sub", fJWTSub, rankPrimary},
	{"authorizer.error", fIgnore, rankPrimary},

	{"errorMessage", fAWSError, rankPrimary},
	{"error.message", fAWSError, rankPrimary},
	{"error.responseType", fIgnore, rankPrimary},
}

var apigwSchema = compileJSONSchema(jsonSchemaSpec{
	Format:        "aws_apigw",
	Keys:          apigwKeys,
	DefaultScheme: "https",
})

func init() {
	registerParser("aws_apigw", "AWS API Gateway JSON access log ($context variables, REST and HTTP APIs)", apigwSchema.newParser)
}
