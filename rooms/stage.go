package rooms

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"lectern/access"
	"lectern/storage"
)

// The webinar stage (docs/protocol.md "The stage"): a viewer raises a hand, a
// moderator invites them, they accept and get a stage token that lets their
// identity publish in the room, and the host or the guest ends it, which
// revokes that token. The state of a room's stage lives on the node that holds
// the room (the api package sends every stage request there), in memory: it
// lasts as long as the people in it are connected.

// StageConfig bounds the stage.
type StageConfig struct {
	// MaxGuests is how many viewers may be on stage (or invited) at once.
	MaxGuests int
	// InviteTTL is how long an invitation waits for an answer.
	InviteTTL time.Duration
	// GuestTTL is the longest a stage token lives; ending the stage revokes
	// it sooner.
	GuestTTL time.Duration
	// RaisesPerMinute and RaiseBurst rate-limit raising a hand, per identity
	// and room, as chat limits posts.
	RaisesPerMinute float64
	RaiseBurst      int
}

// DefaultStageConfig returns the defaults.
func DefaultStageConfig() StageConfig {
	return StageConfig{MaxGuests: 4, InviteTTL: 60 * time.Second, GuestTTL: 4 * time.Hour,
		RaisesPerMinute: 6, RaiseBurst: 3}
}

// Validate reports the first invalid field, naming its configuration key.
func (c StageConfig) Validate() error {
	switch {
	case c.MaxGuests < 1 || c.MaxGuests > 32:
		return errors.New("stage_max_guests: must be 1 to 32")
	case c.InviteTTL < 5*time.Second || c.InviteTTL > 10*time.Minute:
		return errors.New("stage_invite_ttl: must be 5s to 10m")
	case c.GuestTTL < time.Minute:
		return errors.New("stage_guest_ttl: must be at least 1m")
	case c.RaisesPerMinute <= 0 || c.RaiseBurst < 1:
		return errors.New("stage_raises_per_minute, stage_raise_burst: must be positive")
	}
	return nil
}

// Hand is a raised hand in a room's queue.
type Hand struct {
	Identity string    `json:"identity"`
	Name     string    `json:"name"`
	RaisedAt time.Time `json:"raised_at"`
}

// Invitation is a moderator's invitation to the stage, waiting for the
// viewer's answer.
type Invitation struct {
	Identity    string             `json:"identity"`
	Name        string             `json:"name"`
	Permissions access.Permissions `json:"permissions"`
	Tier        access.Tier        `json:"tier"`
	InvitedBy   string             `json:"invited_by"`
	ExpiresAt   time.Time          `json:"expires_at"`
}

// Guest is a viewer on stage: their stage token's ID and grant.
type Guest struct {
	Identity    string             `json:"identity"`
	Name        string             `json:"name"`
	Permissions access.Permissions `json:"permissions"`
	Tier        access.Tier        `json:"tier"`
	Since       time.Time          `json:"since"`
	TokenID     string             `json:"-"`
}

// StageState is a room's stage at one moment.
type StageState struct {
	Hands       []Hand       `json:"hands"`
	Invitations []Invitation `json:"invitations"`
	Guests      []Guest      `json:"guests"`
}

// Stage is every room's stage on this node. mu guards rooms and subs; it is
// safe for concurrent use. Its only goroutines are invitation timers, which
// take mu and end at once.
type Stage struct {
	cfg  StageConfig
	svc  *Service
	now  func() time.Time
	mu   sync.Mutex
	rms  map[string]*stageRoom
	subs map[string]map[*StageSubscription]struct{}
	// OnEnd closes the live sessions a guest opened with the stage token
	// (set by the api package before use; nil: none to close).
	OnEnd func(room, identity, reason string)
	// OnEvent, if set (before use), gets every event of every room in order;
	// it is called with the stage's lock held and must not block.
	OnEvent func(StageEvent)
}

type stageRoom struct {
	hands   []Hand
	invites map[string]*invite
	guests  map[string]Guest
	raises  map[string]*raiseBucket
}

type invite struct {
	Invitation
	timer *time.Timer
}

// NewStage builds the stage over svc, which mints and revokes stage tokens.
func NewStage(cfg StageConfig, svc *Service) (*Stage, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Stage{cfg: cfg, svc: svc, now: time.Now, rms: map[string]*stageRoom{},
		subs: map[string]map[*StageSubscription]struct{}{}}, nil
}

func (st *Stage) roomLocked(room string) *stageRoom {
	r := st.rms[room]
	if r == nil {
		r = &stageRoom{invites: map[string]*invite{}, guests: map[string]Guest{}, raises: map[string]*raiseBucket{}}
		st.rms[room] = r
	}
	return r
}

// State returns room's stage: hands in the order they were raised.
func (st *Stage) State(room string) StageState {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.stateLocked(room)
}

func (st *Stage) stateLocked(room string) StageState {
	s := StageState{Hands: []Hand{}, Invitations: []Invitation{}, Guests: []Guest{}}
	r := st.rms[room]
	if r == nil {
		return s
	}
	s.Hands = append(s.Hands, r.hands...)
	for _, in := range r.invites {
		s.Invitations = append(s.Invitations, in.Invitation)
	}
	for _, g := range r.guests {
		s.Guests = append(s.Guests, g)
	}
	slices.SortFunc(s.Invitations, func(a, b Invitation) int { return a.ExpiresAt.Compare(b.ExpiresAt) })
	slices.SortFunc(s.Guests, func(a, b Guest) int { return a.Since.Compare(b.Since) })
	return s
}

// RaiseHand puts identity in room's queue (again raising changes nothing).
// ErrRaiseLimited when it raised too often, ErrOnStage when it is invited or
// on stage already.
func (st *Stage) RaiseHand(room, identity, name string) (Hand, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	r := st.roomLocked(room)
	if _, ok := r.guests[identity]; ok {
		return Hand{}, ErrOnStage
	}
	if _, ok := r.invites[identity]; ok {
		return Hand{}, ErrOnStage
	}
	if i := handIndex(r.hands, identity); i >= 0 {
		return r.hands[i], nil
	}
	now := st.now()
	if err := r.raise(identity, now, st.cfg); err != nil {
		return Hand{}, err
	}
	h := Hand{Identity: identity, Name: name, RaisedAt: now.UTC().Truncate(time.Millisecond)}
	r.hands = append(r.hands, h)
	st.publishLocked(room, StageEvent{Type: EventHandRaised, Identity: identity, Hand: &h})
	return h, nil
}

// LowerHand takes identity out of room's queue; reason is EventHandLowered
// (the viewer) or EventHandDismissed (a moderator). ErrNoHand if it is not there.
func (st *Stage) LowerHand(room, identity, reason string) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	r := st.rms[room]
	if r == nil || handIndex(r.hands, identity) < 0 {
		return ErrNoHand
	}
	r.hands = slices.Delete(r.hands, handIndex(r.hands, identity), handIndex(r.hands, identity)+1)
	st.publishLocked(room, StageEvent{Type: reason, Identity: identity})
	return nil
}

func handIndex(hs []Hand, identity string) int {
	return slices.IndexFunc(hs, func(h Hand) bool { return h.Identity == identity })
}

// Inviter is who invites to the stage: an API key holder (Admin, no
// identity) or a token's identity with its current permissions in the room.
type Inviter struct {
	Identity    string
	Permissions access.Permissions
	Admin       bool
}

// Invite invites identity, whose hand is raised in room, to the stage. Only
// a moderator invites (ErrNotModerator). The guest gets publish and
// subscribe and what extra chooses of list, send and receive, at tier ("":
// the room's; never above it). ErrNoHand if the hand is not raised,
// ErrStageFull when guests and invitations reach MaxGuests,
// ErrMemberCannotPublish when identity is a member of the room whose stored
// permissions lack publish: every token of a member is narrowed to them
// (Service.Grant), a stage token too.
func (st *Stage) Invite(ctx context.Context, room string, by Inviter, identity string, extra access.Permissions, tier string) (Invitation, error) {
	if !by.Admin && !by.Permissions.Has(access.Moderate) {
		return Invitation{}, ErrNotModerator
	}
	rec, err := st.svc.Room(ctx, room)
	if err != nil {
		return Invitation{}, err
	}
	if err := CheckTier(rec, tier); err != nil {
		return Invitation{}, err
	}
	who, err := st.svc.cache.identity(ctx, room, identity)
	if err != nil {
		return Invitation{}, err
	}
	if who.member && !who.perms.Has(access.Publish) {
		return Invitation{}, ErrMemberCannotPublish
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	r := st.roomLocked(room)
	i := handIndex(r.hands, identity)
	if i < 0 {
		return Invitation{}, ErrNoHand
	}
	if len(r.guests)+len(r.invites) >= st.cfg.MaxGuests {
		return Invitation{}, fmt.Errorf("%w: %d on stage or invited", ErrStageFull, st.cfg.MaxGuests)
	}
	in := &invite{Invitation: Invitation{Identity: identity, Name: r.hands[i].Name,
		Permissions: access.Publish | access.Subscribe | extra&(access.List|access.Send|access.Receive),
		Tier:        EffectiveTier(rec, tier), InvitedBy: by.Identity,
		ExpiresAt: st.now().Add(st.cfg.InviteTTL).UTC().Truncate(time.Millisecond)}}
	r.hands = slices.Delete(r.hands, i, i+1)
	r.invites[identity] = in
	in.timer = time.AfterFunc(st.cfg.InviteTTL, func() { st.expire(room, in) })
	inv := in.Invitation
	st.publishLocked(room, StageEvent{Type: EventInvited, Identity: identity, Invitation: &inv})
	return inv, nil
}

// expire drops an invitation nobody answered in time.
func (st *Stage) expire(room string, in *invite) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if r := st.rms[room]; r != nil && r.invites[in.Identity] == in {
		delete(r.invites, in.Identity)
		st.publishLocked(room, StageEvent{Type: EventInvitationExpired, Identity: in.Identity})
	}
}

// Decline drops identity's invitation: the viewer declined it
// (EventInvitationDeclined) or a moderator withdrew it
// (EventInvitationWithdrawn). ErrNoInvitation if there is none.
func (st *Stage) Decline(room, identity, reason string) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	r := st.rms[room]
	if r == nil || r.invites[identity] == nil {
		return ErrNoInvitation
	}
	r.invites[identity].timer.Stop()
	delete(r.invites, identity)
	st.publishLocked(room, StageEvent{Type: reason, Identity: identity})
	return nil
}

// Accept takes identity on stage: it returns a signed stage token that
// grants the invitation's permissions in room for at most GuestTTL, and the
// guest. ErrNoInvitation if there is none (or it expired).
func (st *Stage) Accept(room, identity, name string) (string, Guest, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	r := st.rms[room]
	if r == nil || r.invites[identity] == nil {
		return "", Guest{}, ErrNoInvitation
	}
	in := r.invites[identity]
	now := st.now()
	if !now.Before(in.ExpiresAt) {
		return "", Guest{}, ErrNoInvitation
	}
	var id [12]byte
	rand.Read(id[:])
	claims := access.Claims{ID: hex.EncodeToString(id[:]), App: storage.KeyApp(room), Identity: identity, Name: name,
		Rooms:    map[string]access.Grant{room: {Permissions: in.Permissions, Tier: in.Tier}},
		IssuedAt: now, ExpiresAt: now.Add(st.cfg.GuestTTL)}
	tok, err := st.svc.issuer.Sign(claims)
	if err != nil {
		return "", Guest{}, err
	}
	in.timer.Stop()
	delete(r.invites, identity)
	g := Guest{Identity: identity, Name: name, Permissions: in.Permissions, Tier: in.Tier,
		Since: now.UTC().Truncate(time.Millisecond), TokenID: claims.ID}
	r.guests[identity] = g
	st.publishLocked(room, StageEvent{Type: EventGuestJoined, Identity: identity, Guest: &g})
	return tok, g, nil
}

// End takes identity off the stage: its stage token is revoked (on every
// node, every protocol: Service.RevokeToken) and its live sessions in room
// are closed (OnEnd). ErrNotOnStage if it is not there.
func (st *Stage) End(ctx context.Context, room, identity, reason string) error {
	st.mu.Lock()
	r := st.rms[room]
	g, ok := Guest{}, false
	if r != nil {
		g, ok = r.guests[identity]
	}
	if !ok {
		st.mu.Unlock()
		return ErrNotOnStage
	}
	delete(r.guests, identity)
	// The guest hears of the end first, so its page leaves by itself
	// rather than finding its connection cut.
	st.publishLocked(room, StageEvent{Type: EventGuestLeft, Identity: identity, Reason: reason})
	st.mu.Unlock()
	err := st.svc.RevokeToken(ctx, storage.KeyApp(room), g.TokenID)
	if st.OnEnd != nil {
		st.OnEnd(room, identity, reason)
	}
	if err != nil {
		return fmt.Errorf("rooms: revoke stage token: %w", err)
	}
	return nil
}

// Leave clears everything identity has on room's stage when it leaves (its
// stage connection closed): its hand, its invitation, its place on stage.
func (st *Stage) Leave(ctx context.Context, room, identity string) error {
	_ = st.LowerHand(room, identity, EventHandLowered)
	_ = st.Decline(room, identity, EventInvitationDeclined)
	if err := st.End(ctx, room, identity, "left the stage"); err != nil && !errors.Is(err, ErrNotOnStage) {
		return err
	}
	return nil
}

// raiseBucket is a token bucket of hand raises.
type raiseBucket struct {
	tokens float64
	at     time.Time
}

func (r *stageRoom) raise(identity string, now time.Time, cfg StageConfig) error {
	b := r.raises[identity]
	if b == nil {
		b = &raiseBucket{tokens: float64(cfg.RaiseBurst), at: now}
		r.raises[identity] = b
	}
	rate := cfg.RaisesPerMinute / 60
	b.tokens = min(float64(cfg.RaiseBurst), b.tokens+now.Sub(b.at).Seconds()*rate)
	b.at = now
	if b.tokens < 1 {
		wait := time.Duration((1 - b.tokens) / rate * float64(time.Second))
		return &RaiseLimitError{RetryAfter: wait}
	}
	b.tokens--
	return nil
}

// GuestTTL is the longest a stage token lives.
func (st *Stage) GuestTTL() time.Duration { return st.cfg.GuestTTL }
