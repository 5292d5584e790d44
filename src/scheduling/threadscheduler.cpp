// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
#include "threadscheduler_p.h"

#include <QtCore/QThread>
#include <QtCore/QTimer>

#include <atomic>
#include <vector>

using namespace std::chrono;

namespace {

// One scheduler per thread; a plain pointer, the scheduler deletes itself
// when its last client leaves.
thread_local ThreadScheduler *t_scheduler = nullptr;

std::atomic<ThreadScheduler::TimePoint (*)()> g_clock{nullptr};

// A client (it has a vtable) is pointer-aligned: the low bits of its address name the kind.
static_assert(alignof(ThreadScheduler::Client) >= DeadlineSet::KindCount);
static_assert(ThreadScheduler::IdleReaping < DeadlineSet::KindCount);

DeadlineSet::Owner ownerOf(ThreadScheduler::Client *client)
{
    return reinterpret_cast<DeadlineSet::Owner>(client);
}

} // namespace

ThreadScheduler::ThreadScheduler() : m_timer(new QTimer(this))
{
    m_timer->setSingleShot(true);
    // A coarse timer may fire 5 % late: 50 ms on a 1 s interval, taken from the bound.
    m_timer->setTimerType(Qt::PreciseTimer);
    connect(m_timer, &QTimer::timeout, this, &ThreadScheduler::runDue);
    // QThread::finished is emitted in the finishing thread: the last chance
    // to stop this thread's timer and free what it owns.
    connect(thread(), &QThread::finished, this, &ThreadScheduler::threadEnded, Qt::DirectConnection);
}

ThreadScheduler::~ThreadScheduler()
{
    if (t_scheduler == this)
        t_scheduler = nullptr;
}

void ThreadScheduler::threadEnded()
{
    if (t_scheduler == this)
        t_scheduler = nullptr;
    // A client told may remove itself: walk a copy.
    const std::vector<Client *> clients(m_clients.begin(), m_clients.end());
    m_clients.clear();
    for (Client *client : clients)
        client->schedulerEnded();
    delete this;
}

ThreadScheduler *ThreadScheduler::forCurrentThread()
{
    if (!t_scheduler)
        t_scheduler = new ThreadScheduler;
    return t_scheduler;
}

ThreadScheduler *ThreadScheduler::existingForCurrentThread()
{
    return t_scheduler;
}

ThreadScheduler::TimePoint ThreadScheduler::now()
{
    const auto clock = g_clock.load(std::memory_order_relaxed);
    return clock ? clock() : Clock::now();
}

void ThreadScheduler::setClockForTesting(TimePoint (*clock)())
{
    g_clock.store(clock, std::memory_order_relaxed);
}

void ThreadScheduler::add(Client *client)
{
    m_clients.insert(client);
}

void ThreadScheduler::remove(Client *client)
{
    if (m_clients.erase(client) == 0)
        return;
    m_deadlines.cancelAll(ownerOf(client));
    if (!m_clients.empty())
        return;
    if (t_scheduler == this)
        t_scheduler = nullptr;
    // Not deleteLater(): a thread (or the application) that ends without
    // another event loop turn would leak it.
    if (m_dispatching)
        m_deleteWhenDone = true;
    else
        delete this;
}

void ThreadScheduler::schedule(Client *client, int kind, milliseconds timeout, TimePoint from)
{
    armFor(m_deadlines.schedule(ownerOf(client), kind, timeout, from));
}

void ThreadScheduler::scheduleAt(Client *client, int kind, TimePoint deadline)
{
    m_deadlines.scheduleAt(ownerOf(client), kind, deadline);
    armFor(deadline);
}

void ThreadScheduler::cancelAt(Client *client, int kind)
{
    m_deadlines.cancelAt(ownerOf(client), kind);
}

void ThreadScheduler::armFor(TimePoint deadline)
{
    // Only an earlier deadline re-arms: activity moves a deadline later, and
    // a timer that fires early finds nothing due and re-arms (rearm()).
    if (!m_dispatching && (!m_timer->isActive() || deadline < m_armedFor))
        arm(deadline);
}

void ThreadScheduler::cancel(Client *client, int kind, milliseconds timeout)
{
    m_deadlines.cancel(ownerOf(client), kind, timeout);
}

void ThreadScheduler::arm(TimePoint deadline)
{
    m_armedFor = deadline;
    m_timer->start(timerWaitUntil(deadline, now()));
}

void ThreadScheduler::rearm()
{
    if (const std::optional<TimePoint> earliest = m_deadlines.next())
        arm(*earliest);
    else
        m_timer->stop();
}

void ThreadScheduler::runDue()
{
    const TimePoint at = now();
    const std::vector<DeadlineSet::Due> due = m_deadlines.takeDue(at);
    m_dispatching = true;
    for (const DeadlineSet::Due &entry : due) {
        auto *client = reinterpret_cast<Client *>(entry.owner);
        // An earlier callback may have removed it (deleted, or moved away).
        if (m_clients.count(client) != 0)
            client->expired(entry.kind, at);
    }
    m_dispatching = false;
    if (m_deleteWhenDone) {
        delete this;
        return;
    }
    rearm();
}
