package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"

	"lectern/storage/storagetest"
)

// pageRoutes are browser pages and their assets, not API: the document leaves them out.
var pageRoutes = regexp.MustCompile(`^/$|^/style\.css$|^/(css|js|img|vendor)/|^/(admin|room|studio|watch)(/|$)`)

type openAPIDocument struct {
	OpenAPI    string                                `json:"openapi"`
	Paths      map[string]map[string]json.RawMessage `json:"paths"`
	Components struct {
		Schemas map[string]struct {
			Properties map[string]json.RawMessage `json:"properties"`
		} `json:"schemas"`
	} `json:"components"`
}

func loadOpenAPI(t *testing.T) openAPIDocument {
	t.Helper()
	var doc openAPIDocument
	if err := json.Unmarshal(openAPIDoc, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	return doc
}

// TestOpenAPIMatchesRoutes requires the document to describe exactly the
// registered API routes, each operation with a unique operationId.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	a := newTestAPI(t, storagetest.Backend{Name: "sqlite", DataDir: t.TempDir()})
	param := regexp.MustCompile(`[:*]([a-zA-Z]+)`)
	routes := map[string]bool{}
	for _, r := range a.srv.engine.Routes() {
		if pageRoutes.MatchString(r.Path) {
			continue
		}
		routes[strings.ToLower(r.Method)+" "+param.ReplaceAllString(r.Path, "{$1}")] = true
	}
	doc := loadOpenAPI(t)
	documented := map[string]bool{}
	ids := map[string]string{}
	for path, ops := range doc.Paths {
		for method, raw := range ops {
			key := method + " " + path
			documented[key] = true
			var o struct {
				OperationID string `json:"operationId"`
			}
			json.Unmarshal(raw, &o)
			if o.OperationID == "" {
				t.Errorf("%s has no operationId", key)
			} else if other, dup := ids[o.OperationID]; dup {
				t.Errorf("operationId %s is used by %s and %s", o.OperationID, other, key)
			}
			ids[o.OperationID] = key
		}
	}
	for _, k := range sortedKeys(routes) {
		if !documented[k] {
			t.Errorf("route %s is not in openapi.json", k)
		}
	}
	for _, k := range sortedKeys(documented) {
		if !routes[k] {
			t.Errorf("openapi.json describes %s, which is not a route", k)
		}
	}
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestOpenAPIServed(t *testing.T) {
	a := newTestAPI(t, storagetest.Backend{Name: "sqlite", DataDir: t.TempDir()})
	r := a.must(http.StatusOK, "GET", "/api/v1/openapi.json", "", nil)
	if !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") || !bytes.Equal(r.raw, openAPIDoc) {
		t.Errorf("served document differs from the embedded one (%s)", r.header.Get("Content-Type"))
	}
	if doc := loadOpenAPI(t); doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi = %q", doc.OpenAPI)
	}
}

// TestOpenAPISchemasMatchRequests keeps request schemas equal to the Go
// request types' JSON fields.
func TestOpenAPISchemasMatchRequests(t *testing.T) {
	doc := loadOpenAPI(t)
	for schema, v := range map[string]any{
		"RoomRequest": roomRequest{}, "MemberRequest": memberRequest{}, "TokenRequest": tokenRequest{},
		"TokenRoomRequest": tokenRoomRequest{}, "JoinRequest": joinRequest{}, "PINsRequest": pinsRequest{},
		"MessageRequest": messageRequest{}, "MessageStateRequest": messageStateRequest{},
		"ChatSettingsRequest": chatSettingsRequest{}, "MuteRequest": muteRequest{}, "BanRequest": banRequest{},
	} {
		want := jsonFields(reflect.TypeOf(v))
		var got []string
		for name := range doc.Components.Schemas[schema].Properties {
			got = append(got, name)
		}
		sort.Strings(got)
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("schema %s has %v, the Go type %v", schema, got, want)
		}
	}
}

// jsonFields lists the JSON names of a struct's fields, embedded ones included.
func jsonFields(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous {
			out = append(out, jsonFields(f.Type)...)
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name != "" && name != "-" {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}
