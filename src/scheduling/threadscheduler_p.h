// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
#pragma once

// Internal: the one timer of a thread behind every deadline of the library
// (heartbeats, stall watches, idle reaping). Not installed.

#include "deadlineset_p.h"

#include <QtCore/QObject>

#include <chrono>
#include <cstddef>
#include <unordered_set>

QT_BEGIN_NAMESPACE
    class QTimer;
QT_END_NAMESPACE

/*!
    Schedules the deadlines of one thread with one QTimer, re-armed to the
    earliest of them (DeadlineSet): activity on a connection costs O(1), and
    the timer is only re-armed when a deadline comes earlier than the one it
    is armed for (a timer that fires early finds nothing due and re-arms).

    Its clients are the library's per-connection parts: a KeepAliveHeartbeat,
    a socket's stall watch, a server's care of its clients in this thread.
    Each add()s itself, schedules entries of its kinds, and is called back
    with expired(). All of them live in the scheduler's thread and move
    their entries when their object moves.

    Created on first use in a thread, deleted at once (not deleteLater(): a
    thread may end without another event loop turn) when that thread's last
    client leaves, or when the thread finishes (clients are told first).

    Every time comes from now(), whose clock a test can replace
    (setClockForTesting()) and then drive the deadlines with runDue().
*/
class ThreadScheduler : public QObject
{
    Q_OBJECT
public:
    using Clock = std::chrono::steady_clock;
    using TimePoint = Clock::time_point;
    //! The kinds of entry, one set per client class: kinds never share a queue.
    enum Kind : int {
        HeartbeatPing,
        HeartbeatReaderIdle,
        HeartbeatWriterIdle,
        HeartbeatAllIdle,
        StallTick,
        IdleReaping,
    };

    //! What a client of the scheduler implements.
    class Client
    {
    public:
        //! The entry of \a kind expired at \a now; it is no longer scheduled.
        virtual void expired(int kind, TimePoint now) = 0;
        //! The thread is finishing and the scheduler with it; nothing of this client is left.
        virtual void schedulerEnded() = 0;

    protected:
        ~Client() = default;
    };

    //! This thread's scheduler, created on first use.
    static ThreadScheduler *forCurrentThread();
    //! This thread's scheduler if it exists (for tests).
    static ThreadScheduler *existingForCurrentThread();

    //! The scheduler's clock (steady_clock unless replaced).
    static TimePoint now();
    //! Replaces the clock of every scheduler (nullptr: steady_clock again). For tests.
    static void setClockForTesting(TimePoint (*clock)());

    void add(Client *client);
    //! Removes every entry of \a client; the last one out deletes the scheduler.
    void remove(Client *client);

    /*!
        (Re)schedules \a kind of \a client to expire \a timeout after
        \a from. Pass now() or an earlier time: a queue expires from its
        front, so a future time would hold back the entries behind it. A
        jittered phase goes into \a timeout instead (a few distinct values,
        a queue each).
    */
    void schedule(Client *client, int kind, std::chrono::milliseconds timeout, TimePoint from);
    void cancel(Client *client, int kind, std::chrono::milliseconds timeout);
    //! (Re)schedules \a kind of \a client at \a deadline, in any order (O(log n): for a few).
    void scheduleAt(Client *client, int kind, TimePoint deadline);
    void cancelAt(Client *client, int kind);

    std::size_t clientCount() const { return m_clients.size(); }

    //! Calls expired() for everything due at now(): what the timer does.
    void runDue();

private:
    ThreadScheduler();
    ~ThreadScheduler() override;
    //! The thread is finishing: the clients are told, the scheduler deleted there.
    void threadEnded();
    //! Arms the timer for \a deadline if it is earlier than what it is armed for.
    void armFor(TimePoint deadline);
    void arm(TimePoint deadline);
    void rearm();

    QTimer *const m_timer;
    TimePoint m_armedFor;
    DeadlineSet m_deadlines;
    std::unordered_set<Client *> m_clients;
    bool m_dispatching = false;    //!< inside runDue(): re-armed at its end
    bool m_deleteWhenDone = false; //!< the last client left during runDue()
};
