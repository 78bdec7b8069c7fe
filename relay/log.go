package relay

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/pion/logging"
)

// slogFactory routes pion/turn's logs into slog at warn and above (STYLE.md).
type slogFactory struct{ log *slog.Logger }

func (f slogFactory) NewLogger(scope string) logging.LeveledLogger {
	return slogLeveled{f.log.With("pion", scope)}
}

type slogLeveled struct{ log *slog.Logger }

func (l slogLeveled) emit(level slog.Level, format string, args ...any) {
	if l.log.Enabled(context.Background(), level) {
		l.log.Log(context.Background(), level, fmt.Sprintf(format, args...))
	}
}

func (slogLeveled) Trace(string)          {}
func (slogLeveled) Tracef(string, ...any) {}
func (slogLeveled) Debug(string)          {}
func (slogLeveled) Debugf(string, ...any) {}
func (slogLeveled) Info(string)           {}
func (slogLeveled) Infof(string, ...any)  {}
func (l slogLeveled) Warn(msg string)     { l.emit(slog.LevelWarn, "%s", msg) }
func (l slogLeveled) Warnf(format string, args ...any) {
	l.emit(slog.LevelWarn, format, args...)
}
func (l slogLeveled) Error(msg string) { l.emit(slog.LevelError, "%s", msg) }
func (l slogLeveled) Errorf(format string, args ...any) {
	l.emit(slog.LevelError, format, args...)
}
