package api

import (
	"fmt"
	"net/http"
	"slices"
	"testing"

	"lectern/access"
	"lectern/storage/storagetest"
)

// TestChat covers the life of a conference room's chat on both backends:
// live delivery, history, permissions, direct messages, deletion, resumption.
func TestChat(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, b storagetest.Backend) {
		a := newTestAPI(t, b)
		a.createRoom(map[string]any{"id": "conf", "name": "Conf"})
		tokA, tokB, tokC := a.tokenFor("a", "conf", access.Member), a.tokenFor("b", "conf", access.Member), a.tokenFor("c", "conf", access.Member)
		host := a.tokenFor("host", "conf", access.Host)
		cb, cc := dialChat(t, a.url, "conf", tokB, ""), dialChat(t, a.url, "conf", tokC, "")
		cb.ready()
		cc.ready()
		ca := dialChat(t, a.url, "conf", tokA, "")
		ca.ready()

		// A room message from A, over REST and over the websocket, reaches B
		// and C live and is in history.
		r := a.must(http.StatusCreated, "POST", "/api/v1/rooms/conf/messages", tokA, map[string]any{"text": "hello from REST"})
		restID := r.body["id"].(float64)
		if r.body["from"] != "a" || r.body["seq"] != restID || r.body["kind"] != "message" {
			t.Errorf("POST answer = %s", r.raw)
		}
		wsID := sentID(t, ca.post("1", "hello from the socket", ""))
		if wsID <= restID {
			t.Errorf("ids %v then %v", restID, wsID)
		}
		want := []string{"message:hello from REST", "message:hello from the socket"}
		for name, c := range map[string]*chatClient{"b": cb, "c": cc, "a": ca} {
			if got := c.eventsUntil(wsID); !slices.Equal(got, want) {
				t.Errorf("%s got %v, want %v", name, got, want)
			}
		}
		hist := a.must(http.StatusOK, "GET", "/api/v1/rooms/conf/messages", tokC, nil)
		if msgs := hist.body["messages"].([]any); len(msgs) != 2 || msgs[1].(map[string]any)["id"] != wsID {
			t.Errorf("history = %s", hist.raw)
		}

		// An audience member without send gets a permission error.
		viewer := a.tokenFor("v", "conf", access.Viewer)
		if r := a.do("POST", "/api/v1/rooms/conf/messages", viewer, map[string]any{"text": "hi"}); r.status != http.StatusForbidden || r.code() != codePermissionDenied {
			t.Errorf("POST without send: %d %s", r.status, r.raw)
		}
		cv := dialChat(t, a.url, "conf", viewer, "")
		cv.ready()
		if r := cv.post("2", "hi", ""); r["type"] != "error" || r["code"] != codePermissionDenied {
			t.Errorf("chat_send without send: %v", r)
		}
		// A member without receive gets no socket and no history.
		deaf := a.tokenFor("deaf", "conf", access.Member&^access.Receive)
		if _, res, err := dialChatErr(t, a.url, "conf", deaf, ""); err == nil || res == nil || res.StatusCode != http.StatusForbidden {
			t.Errorf("chat socket without receive: %v", err)
		}
		if r := a.do("GET", "/api/v1/rooms/conf/messages", deaf, nil); r.status != http.StatusForbidden || r.code() != codePermissionDenied {
			t.Errorf("history without receive: %d %s", r.status, r.raw)
		}

		// A direct message reaches only its sender and recipient.
		dm := sentID(t, ca.post("3", "for b", "b"))
		after := sentID(t, ca.post("4", "for all", ""))
		if got := cb.eventsUntil(after); !slices.Equal(got, []string{"message:for b", "message:for all"}) {
			t.Errorf("b got %v", got)
		}
		for name, c := range map[string]*chatClient{"c": cc, "viewer": cv} {
			if got := c.eventsUntil(after); !slices.Equal(got, []string{"message:for all"}) {
				t.Errorf("%s got %v, want only the message for all", name, got)
			}
		}
		if r := a.must(http.StatusOK, "GET", "/api/v1/rooms/conf/messages?limit=1&before="+fmt.Sprint(after), tokC, nil); len(r.body["messages"].([]any)) != 1 ||
			r.body["messages"].([]any)[0].(map[string]any)["id"] != wsID || r.body["next_before"] != wsID {
			t.Errorf("c's history before %v = %s", after, r.raw)
		}
		if r := a.must(http.StatusOK, "GET", "/api/v1/rooms/conf/messages", tokB, nil); len(r.body["messages"].([]any)) != 4 {
			t.Errorf("b's history = %s", r.raw)
		}
		ca.eventsUntil(after)

		// Deletion propagates live and in history.
		a.must(http.StatusNoContent, "DELETE", fmt.Sprintf("/api/v1/rooms/conf/messages/%v", restID), host, nil)
		if r := a.do("DELETE", fmt.Sprintf("/api/v1/rooms/conf/messages/%v", wsID), tokC, nil); r.status != http.StatusForbidden {
			t.Errorf("deleting another's message: %d %s", r.status, r.raw)
		}
		if r := a.do("DELETE", fmt.Sprintf("/api/v1/rooms/conf/messages/%v", dm), host, nil); r.code() != codeMessageNotFound {
			t.Errorf("a moderator deleting a direct message between others: %s", r.raw)
		}
		for name, c := range map[string]*chatClient{"b": cb, "c": cc} {
			e := c.next("event")
			if msg := e["message"].(map[string]any); e["event"] != "delete" || msg["id"] != restID || msg["text"] != "" || msg["deleted_at"] == nil {
				t.Errorf("%s got %v, want the tombstone", name, e)
			}
		}
		first := a.must(http.StatusOK, "GET", "/api/v1/rooms/conf/messages", tokC, nil).body["messages"].([]any)[0].(map[string]any)
		if first["id"] != restID || first["deleted_at"] == nil || first["text"] != "" {
			t.Errorf("history shows %v, want the tombstone", first)
		}

		// Reconnecting with the last seq resumes with no gaps and no duplicates.
		last := sentID(t, ca.post("5", "before leaving", ""))
		cb.eventsUntil(last)
		cb.conn.CloseNow()
		sentID(t, ca.post("6", "missed 1", ""))
		sentID(t, ca.post("7", "missed 2", ""))
		back := dialChat(t, a.url, "conf", tokB, fmt.Sprintf("&after=%v", last))
		// What was missed comes in the backlog or, if this process had not
		// delivered it yet, live; either way once each, in order.
		var got []string
		for _, e := range back.ready() {
			got = append(got, fmt.Sprint(e["event"], ":", e["message"].(map[string]any)["text"]))
		}
		live := sentID(t, ca.post("8", "live again", ""))
		got = append(got, back.eventsUntil(live)...)
		if want := []string{"message:missed 1", "message:missed 2", "message:live again"}; !slices.Equal(got, want) {
			t.Errorf("resumed after %v with %v, want %v", last, got, want)
		}
	})
}

// TestChatQuestions: in a webinar that takes questions, the PIN audience may
// post, and what it posts stays with moderators, speakers and the asker until
// approved.
func TestChatQuestions(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, b storagetest.Backend) {
		a := newTestAPI(t, b)
		room := a.createRoom(map[string]any{"id": "web", "name": "Web", "mode": "webinar", "chat": map[string]any{"questions": true}})
		if ch := room.body["chat"].(map[string]any); ch["questions"] != true || ch["slow_mode_seconds"] != 0.0 {
			t.Fatalf("room = %s", room.raw)
		}
		join := func(name string) (token, identity string) {
			r := a.must(http.StatusOK, "POST", "/api/v1/rooms/web/join", "", map[string]any{"pin": room.str("pin"), "name": name})
			if p := perms(t, r.body["permissions"]); p != access.Viewer|access.Send {
				t.Fatalf("%s joined with %v, want viewer and send", name, p)
			}
			return r.str("token"), r.str("identity")
		}
		askTok, asker := join("Asker")
		otherTok, _ := join("Other")
		host := a.tokenFor("host", "web", access.Host)
		speaker := a.tokenFor("speaker", "web", access.Speaker)
		clients := map[string]*chatClient{}
		for name, tok := range map[string]string{"asker": askTok, "other": otherTok, "host": host, "speaker": speaker} {
			clients[name] = dialChat(t, a.url, "web", tok, "")
			clients[name].ready()
		}

		reply := clients["asker"].post("q", "Will slides be shared?", "")
		q := sentID(t, reply)
		if msg := reply["chat"].(map[string]any); msg["kind"] != "question" || msg["state"] != "pending" || msg["from"] != asker {
			t.Errorf("ack = %v", reply)
		}
		hello := sentID(t, clients["speaker"].post("s", "Welcome", ""))
		for name, want := range map[string][]string{
			"asker": {"message:Will slides be shared?", "message:Welcome"}, "host": {"message:Will slides be shared?", "message:Welcome"},
			"speaker": {"message:Will slides be shared?", "message:Welcome"}, "other": {"message:Welcome"},
		} {
			if got := clients[name].eventsUntil(hello); !slices.Equal(got, want) {
				t.Errorf("%s got %v, want %v", name, got, want)
			}
		}
		if r := a.must(http.StatusOK, "GET", "/api/v1/rooms/web/messages", otherTok, nil); len(r.body["messages"].([]any)) != 1 {
			t.Errorf("other's history shows the pending question: %s", r.raw)
		}
		if r := a.do("PATCH", fmt.Sprintf("/api/v1/rooms/web/messages/%v", q), speaker, map[string]any{"state": "approved"}); r.status != http.StatusForbidden {
			t.Errorf("a speaker approving: %d %s", r.status, r.raw)
		}
		r := a.must(http.StatusOK, "PATCH", fmt.Sprintf("/api/v1/rooms/web/messages/%v", q), host, map[string]any{"state": "approved"})
		if r.body["state"] != "approved" {
			t.Errorf("approve = %s", r.raw)
		}
		for name, c := range clients {
			e := c.next("event")
			if msg := e["message"].(map[string]any); e["event"] != "update" || msg["id"] != q || msg["state"] != "approved" {
				t.Errorf("%s got %v, want the approved question", name, e)
			}
		}
		clients["host"].send(map[string]any{"type": "chat_answer", "id": "ans", "message": q})
		if r := clients["host"].reply("ans"); r["type"] != "ok" || r["chat"].(map[string]any)["state"] != "answered" {
			t.Errorf("chat_answer = %v", r)
		}
		if e := clients["other"].next("event"); e["message"].(map[string]any)["state"] != "answered" {
			t.Errorf("other got %v", e)
		}
		if r := a.do("PATCH", fmt.Sprintf("/api/v1/rooms/web/messages/%v", q), host, map[string]any{"state": "approved"}); r.status != http.StatusConflict || r.code() != codeChatStateConflict {
			t.Errorf("approving an answered question: %d %s", r.status, r.raw)
		}

		// Without questions, the audience PIN grants no send.
		a.must(http.StatusOK, "PATCH", "/api/v1/rooms/web/chat", host, map[string]any{"questions": false})
		r = a.must(http.StatusOK, "POST", "/api/v1/rooms/web/join", "", map[string]any{"pin": room.str("pin"), "name": "Late"})
		if p := perms(t, r.body["permissions"]); p != access.Viewer {
			t.Errorf("joined with %v after questions were turned off", p)
		}
	})
}
