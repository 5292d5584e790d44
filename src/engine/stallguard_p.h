// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
#pragma once

// Internal: the slow-reader guard (see "Slow readers" in keepalivesocket.h).
// Not installed.

#include "nativetransport_p.h"
#include "threadscheduler_p.h"

#include <QtCore/QObject>

#include <chrono>
#include <optional>

class ConnectionHealth;

/*!
    The TCP_USER_TIMEOUT to set now so that Linux ends a connection whose
    peer has fallen silent with data in flight \a userTimeout after that data
    was sent, rather than after its first retransmission; nothing when
    \a health does not show such a stall.

    Linux counts the user timeout from the first retransmission of the oldest
    unacknowledged segment (a tail-loss probe and one RTO after the send,
    0.41 s on loopback) and ends the connection at the first retransmission
    timer after it: 3.41 s for a 3 s bound. It clamps every timer it arms to
    what is left of the user timeout, so a smaller value set before its next
    retransmission lands the end on the bound.

    The first retransmission is found from the last one
    (\c tcpi_last_data_sent, which retransmissions update) and the doubling
    backoff since: \c tcpi_retransmits of them, the base RTO being
    \c tcpi_rto halved \c tcpi_backoff times. The oldest segment was sent no
    later than one base RTO before its first retransmission, and no later
    than the last write (\a sinceLastWrite, nothing when unknown) if no ACK
    came after that write. The closer of those counts; as neither is earlier
    than the send, the end never comes before the bound. A peer that
    answered since the first retransmission is not silent.
*/
std::optional<std::chrono::milliseconds>
userTimeoutForSilentPeer(const ConnectionHealth &health, std::chrono::milliseconds userTimeout,
                         std::optional<std::chrono::milliseconds> sinceLastWrite);

/*!
    A kernel retransmission bound (TCP_USER_TIMEOUT) also kills a live peer
    that has stopped reading. While the send side is stalled and the peer
    keeps answering, the guard keeps the kernel's deadline a few seconds
    ahead; once the peer has been silent for a whole user timeout, the bound
    applies again. Runs only while sent data is outstanding; without a user
    timeout it only keeps track of that (isWatching()).

    The watches of a thread share its ThreadScheduler's timer: starting and
    stopping a watch is O(1), where a QTimer per connection costs a sorted
    insertion into, and a search of, the thread's timer list for every
    message a busy server sends. Ticks fall on a grid of the tick length, so
    the watches of a thread are looked at together, one timer wake-up per
    tick for all of them. Part of the engine (no QObject of its own: one per
    connection adds up); it moves its watch to the new thread when the
    engine tells it that the socket moves.
*/
class StallGuard final : public ThreadScheduler::Client
{
public:
    //! Watches \a site's connection; queued work is carried into the socket's thread by the socket.
    explicit StallGuard(const SocketTransport *site);
    ~StallGuard();
    Q_DISABLE_COPY_MOVE(StallGuard)

    //! The user timeout in force (0: none, the guard only tracks outstanding data).
    void setUserTimeout(std::chrono::milliseconds userTimeout);
    //! Starts watching (data was written); never restarts a running watch.
    void start();
    //! Qt has just written to the kernel, at \a nowNs (coarseNowNs()): start().
    void noteWrite(qint64 nowNs)
    {
        m_lastWriteNs = nowNs;
        if (!m_scheduler)
            start();
    }
    void stop();
    //! TCP_USER_TIMEOUT was just set again: a bridged stall needs its extension back.
    void optionsApplied();

    bool isWatching() const { return m_scheduler != nullptr; }
    bool isBridged() const { return m_bridged; }

    //! One look at the connection (a tick, or options applied mid-stall).
    void watch();

    //! The socket is about to move to another thread (QEvent::ThreadChange, sent in the old one).
    void threadChanging();

private:
    //! ThreadScheduler::Client: the tick.
    void expired(int kind, ThreadScheduler::TimePoint now) override;
    //! ThreadScheduler::Client: the thread is gone, and the watch with it.
    void schedulerEnded() override { m_scheduler = nullptr; }
    void scheduleTick();
    void bridge(const ConnectionHealth &health, qintptr descriptor, bool answeredNow);
    //! A peer silent with data in flight: the kernel's end is moved onto the bound.
    void pullInUserTimeout(const ConnectionHealth &health, qintptr descriptor);
    void restoreUserTimeout();
    void endWatch();

    const SocketTransport *const m_site;
    ThreadScheduler *m_scheduler = nullptr; //!< while watching: this thread's
    std::chrono::milliseconds m_userTimeout{0};
    qint64 m_stallSinceNs = 0; //!< coarseNowNs() the send side stalled at; 0: not stalled
    qint64 m_lastWriteNs = 0;  //!< coarseNowNs() of the last write; 0: none
    //! While watching: its tick length (50 ms to 1 s).
    std::chrono::duration<qint32, std::milli> m_tick{0};
    bool m_resumeAfterMove = false; //!< the watch continues in the new thread
    bool m_bridged = false;         //!< the user timeout was pushed forward for a peer that answers
    bool m_pulledIn = false;        //!< the user timeout was shortened for a silent peer
};
