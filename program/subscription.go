package program

import (
	"slices"
	"sync"
)

// Subscription is a consumer's attachment to a program.
type Subscription struct {
	p       *Program
	c       Consumer
	onClose func()
	once    sync.Once
}

// Subscribe adds a consumer; it gets frames from the next keyframe on.
func (p *Program) Subscribe(c Consumer) (*Subscription, error) {
	s := &Subscription{p: p, c: c}
	if !p.do(func() {
		p.consumers = append(p.consumers, s)
		p.keyWant.Or(^uint32(0) >> (32 - MaxRenditions))
	}) {
		return nil, ErrClosed
	}
	return s, nil
}

// RequestKeyframe asks for a keyframe in a video rendition soon. Any goroutine may call it.
func (s *Subscription) RequestKeyframe(rendition int) {
	if rendition >= 0 && rendition < MaxRenditions {
		s.p.keyWant.Or(1 << rendition)
	}
}

// Close detaches the consumer. It may not be called from WriteFrame or Idle.
func (s *Subscription) Close() {
	s.once.Do(func() {
		s.p.do(func() {
			s.p.consumers = slices.DeleteFunc(s.p.consumers, func(x *Subscription) bool { return x == s })
		})
		if s.onClose != nil {
			s.onClose()
		}
	})
}
