// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
#pragma once

// Internal: the one timer behind every KeepAliveHeartbeat of a thread. Not
// installed.

#include "timeoutqueue_p.h"

#include <QtCore/QObject>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <unordered_set>

class QTimer;
class KeepAliveHeartbeat;

/*!
    Schedules the heartbeats of one thread with one QTimer, re-armed to the
    earliest deadline. Deadlines live in TimeoutQueues, one per distinct
    timeout (usually a handful: every connection of an application tends to
    share its settings), so activity on a connection costs O(1): the entry
    moves to the back of its queue, and the timer is only re-armed when a
    deadline comes earlier than the one it is armed for (a timer that fires
    early finds nothing expired and re-arms).

    Created on first use in a thread, deleted at once (not deleteLater(): a
    thread may end without another event loop turn) when that thread's last
    heartbeat leaves, or when the thread finishes. Heartbeats live in the
    thread of their socket; KeepAliveHeartbeat moves its entries when the
    socket moves.
*/
class HeartbeatScheduler : public QObject
{
    Q_OBJECT
public:
    using Clock = std::chrono::steady_clock;
    //! What a scheduled entry is for; one entry per heartbeat and kind.
    enum class Kind : std::uintptr_t { Ping = 0, ReaderIdle = 1, WriterIdle = 2, AllIdle = 3 };

    //! This thread's scheduler, created on first use.
    static HeartbeatScheduler *forCurrentThread();
    //! This thread's scheduler if it exists (for tests).
    static HeartbeatScheduler *existingForCurrentThread();

    void add(KeepAliveHeartbeat *heartbeat);
    //! Removes every entry of \a heartbeat; the last one out deletes the scheduler.
    void remove(KeepAliveHeartbeat *heartbeat);

    /*!
        (Re)schedules \a kind of \a heartbeat to expire \a timeout after
        \a from. Pass the current time: a queue expires from its front, so a
        future time would hold back the entries behind it. A jittered phase
        goes into \a timeout instead (a few distinct values, a queue each).
    */
    void schedule(KeepAliveHeartbeat *heartbeat, Kind kind, std::chrono::milliseconds timeout,
                  Clock::time_point from);
    void cancel(KeepAliveHeartbeat *heartbeat, Kind kind, std::chrono::milliseconds timeout);

    std::size_t heartbeatCount() const { return m_heartbeats.size(); }

private:
    explicit HeartbeatScheduler();
    ~HeartbeatScheduler() override;
    void onTimeout();
    //! The thread is finishing: the timer is stopped and the scheduler deleted there.
    void threadEnded();
    void arm(Clock::time_point deadline);
    void rearm();

    QTimer *const m_timer;
    Clock::time_point m_armedFor;
    std::map<std::chrono::milliseconds::rep, TimeoutQueue<std::uintptr_t>> m_queues;
    std::unordered_set<KeepAliveHeartbeat *> m_heartbeats;
    bool m_dispatching = false;    //!< inside onTimeout(): re-armed at its end
    bool m_deleteWhenDone = false; //!< the last heartbeat left during onTimeout()
};
