"""common.bus over real ZeroMQ sockets: what send_frames writes, a plain SUB socket reads."""

from __future__ import annotations


def test_send_frames_delivers_one_two_frame_message_a_plain_sub_socket_reads() -> None:
    import zmq

    from common.bus import pack, send_frames

    context = zmq.Context()
    publisher = context.socket(zmq.XPUB)
    port = publisher.bind_to_random_port("tcp://127.0.0.1")
    subscriber = context.socket(zmq.SUB)
    subscriber.setsockopt(zmq.SUBSCRIBE, b"ev.")
    subscriber.connect(f"tcp://127.0.0.1:{port}")
    try:
        assert publisher.poll(5000) and publisher.recv() == b"\x01ev."  # the subscription arrived
        body = pack({"n": 1, "text": "é" * 1000})
        send_frames(publisher, b"ev.MeterValues.CP.1", body)
        send_frames(publisher, b"other", b"x")  # not subscribed: filtered out
        send_frames(publisher, b"ev.Heartbeat.CP.1", b"")
        assert subscriber.poll(5000)
        assert subscriber.recv_multipart() == [b"ev.MeterValues.CP.1", body]
        assert subscriber.recv_multipart() == [b"ev.Heartbeat.CP.1", b""]
    finally:
        subscriber.close(0)
        publisher.close(0)
        context.term()
