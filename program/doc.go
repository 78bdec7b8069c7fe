// Package program owns what is on air in each room: one video and one audio
// track of the room at a time (a moderator's choice, the active speaker, or
// the first publisher's), depacketized (never decoded) into frames on one
// continuous timeline that switches of source do not break. Its consumers,
// the LL-HLS muxer (hls), the recorder (hls/record) and RTSP out (rtspout),
// subscribe through one call, Set.Subscribe, and get Frames. It imports only
// sfu.
package program
