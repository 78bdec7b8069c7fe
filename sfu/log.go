package sfu

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/pion/logging"
)

// pionLogger routes pion's logs into slog at warn and above (STYLE.md).
func pionLogger(log *slog.Logger) logging.LoggerFactory { return slogFactory{log} }

type slogFactory struct{ log *slog.Logger }

func (f slogFactory) NewLogger(scope string) logging.LeveledLogger {
	return slogLeveled{f.log.With("pion", scope)}
}

type slogLeveled struct{ log *slog.Logger }

func (l slogLeveled) emit(level slog.Level, msg string) {
	if l.log.Enabled(context.Background(), level) {
		l.log.Log(context.Background(), level, msg)
	}
}

func (l slogLeveled) Trace(string)          {}
func (l slogLeveled) Tracef(string, ...any) {}
func (l slogLeveled) Debug(string)          {}
func (l slogLeveled) Debugf(string, ...any) {}
func (l slogLeveled) Info(string)           {}
func (l slogLeveled) Infof(string, ...any)  {}
func (l slogLeveled) Warn(msg string)       { l.emit(slog.LevelWarn, msg) }
func (l slogLeveled) Warnf(format string, args ...any) {
	l.emit(slog.LevelWarn, fmt.Sprintf(format, args...))
}
func (l slogLeveled) Error(msg string) { l.emit(slog.LevelError, msg) }
func (l slogLeveled) Errorf(format string, args ...any) {
	l.emit(slog.LevelError, fmt.Sprintf(format, args...))
}

// muxLogger is the ICE UDP mux's logger. The mux warns when its socket listens
// on the unspecified address, suggesting one socket per interface instead;
// Lectern listens on one port on every interface on purpose (one port to open
// in a firewall) and the mux then offers each interface's address with it, so
// that warning is dropped and the others kept.
type muxLogger struct{ logging.LeveledLogger }

func (l muxLogger) Warn(msg string) {
	if strings.HasPrefix(msg, "UDPMuxDefault should not listening on unspecified address") {
		return
	}
	l.LeveledLogger.Warn(msg)
}
