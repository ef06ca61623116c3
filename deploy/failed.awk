# failed.awk prints, for each test a "go test -v" log says failed, its
# "--- FAIL" line and the last 25 lines the test printed. The log is read
# twice: awk -f deploy/failed.awk LOG LOG.
# Output lines belong to the test the latest "=== RUN/CONT/NAME" header
# names (go test -v writes one before a parallel test's output resumes).
FNR == NR {
	if (match($0, /^[ \t]*--- FAIL: [^ ]+/)) {
		name = substr($0, RSTART, RLENGTH); sub(/^[ \t]*--- FAIL: /, "", name)
		failed[name] = $0; order[++n] = name
	}
	next
}
/^=== (RUN|CONT|NAME|PAUSE)/ { cur = $3; next }
/^[ \t]/ && !/^[ \t]*--- / && (cur in failed) { buf[cur, ++cnt[cur]] = $0 }
END {
	for (i = 1; i <= n; i++) {
		t = order[i]
		print failed[t]
		from = cnt[t] > 25 ? cnt[t] - 24 : 1
		for (j = from; j <= cnt[t]; j++) print buf[t, j]
	}
}
