"""A WHIP publisher made of GStreamer's webrtcbin (GStreamer has no whipsink
before gst-plugins-rs): a live test pattern in H.264 constrained baseline and
Opus, one offer with every candidate (no trickle), the answer from the POST.

usage: whip.py WHIP_URL BEARER_TOKEN

Prints "whip: <state>" lines as the connection goes; ends on SIGINT or SIGTERM
with a DELETE of the session, or with status 1 on any error.
"""

import signal
import sys
import urllib.error
import urllib.parse
import urllib.request

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstSdp", "1.0")
gi.require_version("GstWebRTC", "1.0")
from gi.repository import GLib, Gst, GstSdp, GstWebRTC  # noqa: E402

PIPELINE = """
webrtcbin name=w bundle-policy=max-bundle
videotestsrc is-live=true pattern=ball ! video/x-raw,width=640,height=360,framerate=25/1
  ! videoconvert ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=25 bframes=0
  ! video/x-h264,profile=constrained-baseline ! rtph264pay config-interval=-1 aggregate-mode=zero-latency
  ! application/x-rtp,media=video,encoding-name=H264,clock-rate=90000,payload=102 ! w.
audiotestsrc is-live=true wave=sine ! audioconvert ! audioresample ! opusenc
  ! rtpopuspay ! application/x-rtp,media=audio,encoding-name=OPUS,clock-rate=48000,payload=111 ! w.
"""


def main():
    url, token = sys.argv[1], sys.argv[2]
    Gst.init(None)
    pipe = Gst.parse_launch(PIPELINE)
    webrtc = pipe.get_by_name("w")
    loop = GLib.MainLoop()
    state = {"location": None, "posted": False, "failed": False}

    def fail(msg):
        print("whip: error:", msg, flush=True)
        state["failed"] = True
        loop.quit()

    def post_offer():
        if state["posted"]:
            return
        state["posted"] = True
        offer = webrtc.get_property("local-description").sdp.as_text()
        req = urllib.request.Request(url, data=offer.encode(), method="POST", headers={
            "Content-Type": "application/sdp", "Authorization": "Bearer " + token})
        try:
            with urllib.request.urlopen(req, timeout=20) as res:
                answer = res.read().decode()
                state["location"] = urllib.parse.urljoin(url, res.headers["Location"])
                print("whip: answered", res.status, flush=True)
        except urllib.error.HTTPError as e:
            return fail("POST %d %s" % (e.code, e.read().decode(errors="replace")))
        except OSError as e:
            return fail("POST %s" % e)
        _, msg = GstSdp.SDPMessage.new_from_text(answer)
        desc = GstWebRTC.WebRTCSessionDescription.new(GstWebRTC.WebRTCSDPType.ANSWER, msg)
        webrtc.emit("set-remote-description", desc, Gst.Promise.new())

    def on_gathering(element, _):
        if element.get_property("ice-gathering-state") == GstWebRTC.WebRTCICEGatheringState.COMPLETE:
            GLib.idle_add(post_offer)

    def on_connection(element, _):
        st = element.get_property("connection-state")
        print("whip:", st.value_nick, flush=True)
        if st == GstWebRTC.WebRTCPeerConnectionState.FAILED:
            GLib.idle_add(fail, "connection failed")

    def on_offer(promise, _):
        reply = promise.get_reply()
        offer = reply.get_value("offer") if reply is not None and reply.has_field("offer") else None
        if offer is None:
            return GLib.idle_add(fail, "create-offer: %s" % (reply.to_string() if reply is not None else "no reply"))
        webrtc.emit("set-local-description", offer, Gst.Promise.new())

    def on_negotiation_needed(element):
        # WHIP sends only (RFC 9725 section 4.2).
        i = 0
        while True:
            tr = element.emit("get-transceiver", i)
            if tr is None:
                break
            tr.set_property("direction", GstWebRTC.WebRTCRTPTransceiverDirection.SENDONLY)
            i += 1
        element.emit("create-offer", None, Gst.Promise.new_with_change_func(on_offer, None))

    def on_bus(_, message):
        if message.type == Gst.MessageType.ERROR:
            err, dbg = message.parse_error()
            fail("%s (%s)" % (err.message, dbg))
        elif message.type == Gst.MessageType.EOS:
            fail("end of stream")

    webrtc.connect("on-negotiation-needed", on_negotiation_needed)
    webrtc.connect("notify::ice-gathering-state", on_gathering)
    webrtc.connect("notify::connection-state", on_connection)
    bus = pipe.get_bus()
    bus.add_signal_watch()
    bus.connect("message", on_bus)
    for sig in (signal.SIGINT, signal.SIGTERM):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, sig, loop.quit)
    pipe.set_state(Gst.State.PLAYING)
    loop.run()
    pipe.set_state(Gst.State.NULL)
    if state["location"]:
        req = urllib.request.Request(state["location"], method="DELETE",
                                     headers={"Authorization": "Bearer " + token})
        try:
            urllib.request.urlopen(req, timeout=5).close()
            print("whip: deleted", flush=True)
        except OSError as e:
            print("whip: delete:", e, flush=True)
    sys.exit(1 if state["failed"] else 0)


if __name__ == "__main__":
    main()
