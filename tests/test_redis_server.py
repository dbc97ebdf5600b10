"""The redis-server the fleet tests run against: it starts, stops, pauses and flushes for real."""

from __future__ import annotations

import socket

import pytest

from .redis_server import RedisServer, _command


def test_a_started_server_answers_and_keeps_what_it_is_told(redis_server: RedisServer) -> None:
    assert _command(redis_server.port, "SET", "k", "v") == b"+OK"
    assert _command(redis_server.port, "EXISTS", "k") == b":1"


def test_a_flushed_server_has_forgotten_every_key(redis_server: RedisServer) -> None:
    _command(redis_server.port, "SET", "k", "v")
    redis_server.flush()
    assert _command(redis_server.port, "EXISTS", "k") == b":0"


def test_a_paused_server_accepts_no_answer_until_resumed(redis_server: RedisServer) -> None:
    redis_server.pause()
    with pytest.raises(socket.timeout):
        _command(redis_server.port, "PING", timeout=0.3)
    redis_server.resume()
    assert _command(redis_server.port, "PING") == b"+PONG"


def test_a_stopped_server_refuses_and_a_restarted_one_is_empty(redis_server: RedisServer) -> None:
    _command(redis_server.port, "SET", "k", "v")
    redis_server.stop()
    with pytest.raises(ConnectionRefusedError):
        _command(redis_server.port, "PING")
    redis_server.restart()
    assert _command(redis_server.port, "EXISTS", "k") == b":0"
