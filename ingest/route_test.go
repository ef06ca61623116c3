package ingest

import "testing"

func TestRouteTemplate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ path, want string }{
		{"/orders/123", "/orders/{id}"},
		{"/orders/123/items/9", "/orders/{id}/items/{id}"},
		{"/users/3f2504e0-4f89-11d3-9a0c-0305e82c3301", "/users/{id}"},
		{"/blobs/deadbeef01", "/blobs/{id}"},
		{"/tokens/ord_8Fk2Jz9QwXyT3aa", "/tokens/{id}"},
		{"/api/v1/orders", "/api/v1/orders"},
		{"/api/v2.1/orders/77", "/api/v2.1/orders/{id}"},
		{"/orders.v1.OrderService/GetOrder", "/orders.v1.OrderService/GetOrder"},
		{"/settings/authentication-settings", "/settings/authentication-settings"},
		{"/reports/2024-01-02", "/reports/{id}"},
		{"/u/u12345", "/u/{id}"},
		{"/static/app.min.js", "/static/app.min.js"},
		{"/", "/"},
		{"", ""},
		{"//double//slash/42", "//double//slash/{id}"},
	} {
		if got := RouteTemplate(nil, tc.path); got != tc.want {
			t.Errorf("RouteTemplate(%q) = %q, want %q", tc.path, got, tc.want)
		}
		var ev Event
		if got := RouteTemplate(&ev, tc.path); got != tc.want {
			t.Errorf("RouteTemplate(ev, %q) = %q, want %q", tc.path, got, tc.want)
		}
	}
}

func BenchmarkRouteTemplate(b *testing.B) {
	var ev Event
	b.ReportAllocs()
	for b.Loop() {
		ev.scratch = ev.scratch[:0]
		RouteTemplate(&ev, "/api/v1/users/3f2504e0-4f89-11d3-9a0c-0305e82c3301/orders/12345")
	}
}
