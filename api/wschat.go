package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"

	"lectern/access"
	"lectern/chat"
)

// The room websocket carries chat too (docs/protocol.md "Chat on the room
// websocket"): chat_subscribe starts the same frames the chat websocket sends,
// and the chat_* requests are carried out by chatCommand. The writer loop owns
// the subscription (the reader only reads it, for the member's current
// permissions); the reader asks for it through socketSession.chatReq.

// chatSubscribeRequest asks the writer to (re)start the chat subscription.
type chatSubscribeRequest struct {
	id    string
	after int64
}

// chatClosed tells a room websocket client that its chat subscription ended
// while the socket stays open; it may send chat_subscribe again.
type chatClosed struct {
	Type    string `json:"type"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// messageType reads a frame's type without checking the rest.
func messageType(data []byte) string {
	var head struct {
		Type string `json:"type"`
	}
	if json.Unmarshal(data, &head) != nil {
		return ""
	}
	return head.Type
}

// chatViewer is the member as chat sees them, with the token's current grant
// in the room (rooms.Service.Grant): a demotion through the API applies to
// the next frame.
func (ss *socketSession) chatViewer(ctx context.Context) chat.Viewer {
	perms, _ := ss.s.gate.liveGrant(ctx, ss.claims, ss.roomID)
	return chat.Viewer{Identity: ss.claims.Identity, Name: ss.claims.Name, Permissions: perms}
}

// handleChat carries out a chat_* frame read by the reader goroutine.
func (ss *socketSession) handleChat(ctx context.Context, data []byte) any {
	f, err := decodeChatFrame(data)
	if err != nil {
		return chatErrorReply(f.ID, err)
	}
	return chatCommand(ctx, ss.s.chat, ss.roomID, ss.chatViewer(ctx), f)
}

// subscribeChat runs on the writer: it replaces the chat subscription and
// writes its backlog and chat_ready. It returns an error only when the socket
// cannot be written.
func (ss *socketSession) subscribeChat(ctx context.Context, req chatSubscribeRequest) error {
	ss.closeChat()
	v := ss.chatViewer(ctx)
	if !v.Permissions.Has(access.Receive) {
		e := errorf(http.StatusForbidden, codePermissionDenied, "chat needs the receive permission")
		return ss.write(ctx, errorReply(req.id, e))
	}
	sub, err := ss.s.chat.Subscribe(ctx, ss.roomID, v, req.after)
	if err != nil {
		return ss.write(ctx, chatErrorReply(req.id, err))
	}
	ss.chatSub.Store(sub)
	if err := ss.write(ctx, serverMessage{Type: "ok", ID: req.id}); err != nil {
		return err
	}
	return writeChatBacklog(ctx, sub, func(data []byte) error { return ss.write(ctx, json.RawMessage(data)) })
}

// chatEnded runs on the writer when the subscription ends on the server's
// side (too slow, permission revoked, room deleted).
func (ss *socketSession) chatEnded(ctx context.Context) error {
	sub := ss.chatSub.Load()
	ss.closeChat()
	_, reason := subscriptionClose(sub.Err())
	code, message, ok := strings.Cut(reason, ": ")
	if !ok {
		code, message = "chat_closed", reason
	}
	return ss.write(ctx, chatClosed{Type: "chat_closed", Code: code, Message: message})
}

func (ss *socketSession) closeChat() {
	if sub := ss.chatSub.Swap(nil); sub != nil {
		sub.Close()
	}
}

// chatChannels returns the subscription's channels, nil (never ready) when
// there is none.
func (ss *socketSession) chatChannels() (<-chan *chat.Frame, <-chan struct{}) {
	sub := ss.chatSub.Load()
	if sub == nil {
		return nil, nil
	}
	return sub.Frames(), sub.Done()
}

// writeChatBacklog writes a new subscription's backlog, then chat_ready.
func writeChatBacklog(ctx context.Context, sub *chat.Subscription, write func([]byte) error) error {
	for {
		f, err := sub.Backlog(ctx)
		if err != nil {
			return err
		}
		if len(f.Events) == 0 {
			break
		}
		if err := write(f.JSON); err != nil {
			return err
		}
	}
	data, err := json.Marshal(chatReady{Type: "chat_ready", Seq: sub.Cursor(), Earlier: sub.Earlier()})
	if err != nil {
		return err
	}
	return write(data)
}
