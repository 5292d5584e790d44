// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
#include "stallguard_p.h"

#include "coarseclock_p.h"
#include "keepalivelogging_p.h"
#include "keepaliveplatform_p.h"

#include <QtCore/QAbstractEventDispatcher>
#include <QtCore/QMetaObject>

#include <algorithm>
#include <climits>
#include <utility>

using namespace std::chrono;
using namespace std::chrono_literals;

std::optional<milliseconds> userTimeoutForSilentPeer(const ConnectionHealth &health,
                                                     milliseconds userTimeout,
                                                     std::optional<milliseconds> sinceLastWrite)
{
    if (userTimeout <= 0ms || health.unackedSegments.value_or(0) == 0 || !health.retransmits
        || !health.backoff || !health.retransmissionTimeout || !health.sinceLastDataSent
        || !health.sinceLastAckReceived)
        return std::nullopt;
    const int retransmits = *health.retransmits;
    const int backoff = *health.backoff;
    // Linux caps the RTO at 120 s: past that the doubling no longer tells
    // when the first retransmission was, and a guess could end it early.
    const microseconds rto = *health.retransmissionTimeout;
    if (retransmits < 1 || backoff < 1 || retransmits > 16 || backoff > 16 || rto >= 60s)
        return std::nullopt;
    const milliseconds base = duration_cast<milliseconds>(rto / (1 << backoff));
    const milliseconds sinceFirstRetransmission =
            *health.sinceLastDataSent + base * ((1 << retransmits) - 2);
    const milliseconds sinceAck = *health.sinceLastAckReceived;
    if (sinceAck < sinceFirstRetransmission)
        return std::nullopt;
    // The RTO timer runs from the send (or a later ACK) for at least the
    // base RTO. A write that no ACK followed was the send's latest moment
    // too: the kernel sends at once what the window allows, and only an ACK
    // opens more. The closer of those no-earlier-than-the-send moments counts.
    milliseconds sinceSent = sinceFirstRetransmission + base;
    if (sinceLastWrite && *sinceLastWrite <= sinceAck)
        sinceSent = std::max(sinceSent, *sinceLastWrite);
    // The kernel ends it at the first retransmission + the value: now + what
    // is left of the bound.
    const milliseconds value = sinceFirstRetransmission + userTimeout - sinceSent;
    return std::clamp(value, milliseconds(1), userTimeout);
}

StallGuard::StallGuard(const SocketTransport *site) : m_site(site) { }

StallGuard::~StallGuard()
{
    stop();
}

void StallGuard::threadChanging()
{
    // Sent in the old thread: leave its scheduler here, join the new thread's
    // there (posted events move with the socket).
    if (!m_scheduler)
        return;
    std::exchange(m_scheduler, nullptr)->remove(this);
    m_resumeAfterMove = true;
    QMetaObject::invokeMethod(
            m_site->socket,
            [this] {
                if (std::exchange(m_resumeAfterMove, false))
                    start();
            },
            Qt::QueuedConnection);
}

void StallGuard::setUserTimeout(milliseconds userTimeout)
{
    m_userTimeout = userTimeout;
}

void StallGuard::start()
{
    // Never restarted while running: options re-applied again and again
    // must not keep the first tick from ever coming. Without a user timeout
    // there is no kernel bound to defend, but the watch still tells whether
    // data is outstanding (a death met without a look is classified by it):
    // one tick a second, stopped within a second of the last acknowledgement,
    // before any keepalive death (idle + interval >= 2 s) can come.
    // A thread without an event dispatcher (a std::thread using waitFor...())
    // runs no timer, and Qt would warn: the guard is off there.
    if (m_scheduler || !QAbstractEventDispatcher::instance())
        return;
    m_tick = duration_cast<decltype(m_tick)>(
            m_userTimeout > 0ms
                    ? std::clamp(m_userTimeout / 4, milliseconds(50), milliseconds(1000))
                    : milliseconds(1000));
    m_scheduler = ThreadScheduler::forCurrentThread();
    m_scheduler->add(this);
    scheduleTick();
}

void StallGuard::scheduleTick()
{
    // From the last grid point, which is never in the future: the next tick
    // is the next grid point, shared by every watch of this tick length.
    const ThreadScheduler::TimePoint now = ThreadScheduler::now();
    const auto sinceEpoch = now.time_since_epoch();
    const milliseconds tick = m_tick;
    m_scheduler->schedule(this, ThreadScheduler::StallTick, tick,
                          ThreadScheduler::TimePoint(sinceEpoch - sinceEpoch % tick));
}

void StallGuard::expired(int, ThreadScheduler::TimePoint)
{
    watch();
    if (m_scheduler) // still watching
        scheduleTick();
}

void StallGuard::endWatch()
{
    m_resumeAfterMove = false;
    if (ThreadScheduler *scheduler = std::exchange(m_scheduler, nullptr))
        scheduler->remove(this);
}

void StallGuard::stop()
{
    endWatch();
    m_stallSinceNs = 0;
    m_bridged = false;
    m_pulledIn = false;
    m_lastWriteNs = 0;
}

void StallGuard::optionsApplied()
{
    // The options just set the user timeout again: a pull-in is gone.
    m_pulledIn = false;
    if (m_bridged)
        watch();
    // Data may already be outstanding (new options mid-stall, an adopted
    // busy descriptor). A new idle connection, the common case, joins no
    // scheduler: its first write starts the watch.
    if (!m_scheduler && !hasQueuedWrites(m_site->socket)) {
        const ConnectionHealth health = KeepAlivePlatform::health(m_site->transport.descriptor());
        if (health.isValid() && health.unackedSegments.value_or(1) == 0
            && health.notSentBytes.value_or(1) == 0)
            return;
    }
    start();
}

void StallGuard::watch()
{
    // Also while closing: Qt still sends what the application wrote.
    const qintptr descriptor = m_site->transport.descriptor();
    const ConnectionHealth health = KeepAlivePlatform::health(descriptor);
    if (!health.isValid()) {
        endWatch();
        return;
    }
    const quint32 notSent = health.notSentBytes.value_or(0);
    const quint32 unacked = health.unackedSegments.value_or(0);
    // Two ways a live peer that stops reading stalls our send side, both of
    // which TCP_USER_TIMEOUT would end (measured: 3.5 s with 3000 ms):
    // - zero window: data queued, nothing in flight; the peer answers window
    //   probes (every ACK resets tcpi_probes to 0);
    // - a window shrunk below what is in flight: retransmissions that the
    //   peer answers with duplicate ACKs (ACK newer than our last send).
    const bool zeroWindow = unacked == 0 && notSent > 0;
    const bool backingOff =
            unacked > 0 && (health.retransmits.value_or(0) > 0 || health.backoff.value_or(0) > 0);
    if (m_userTimeout > 0ms && (zeroWindow || backingOff)) {
        const bool answeredNow = zeroWindow
                ? health.probes.value_or(1) == 0
                : health.sinceLastAckReceived.value_or(milliseconds::max())
                        <= health.sinceLastDataSent.value_or(0ms);
        bridge(health, descriptor, answeredNow);
        return;
    }
    if (m_stallSinceNs != 0) {
        if (m_bridged || m_pulledIn)
            restoreUserTimeout();
        m_stallSinceNs = 0;
        m_bridged = false;
        m_pulledIn = false;
    }
    if (unacked == 0 && notSent == 0 && !hasQueuedWrites(m_site->socket))
        endWatch();
}

void StallGuard::bridge(const ConnectionHealth &health, qintptr descriptor, bool answeredNow)
{
    if (m_stallSinceNs == 0)
        m_stallSinceNs = coarseNowNs();
    const milliseconds tick = m_tick;
    const milliseconds ackAge = health.sinceLastAckReceived.value_or(milliseconds::max());
    // The kernel counts the user timeout from the stall's first probe or
    // retransmission and spaces probes at most the remaining time apart. A
    // deadline kept a little ahead makes it probe often (so silence shows
    // quickly) without ever expiring while we keep ticking; the RTO covers a
    // stall that began before our first look.
    const milliseconds rto =
            duration_cast<milliseconds>(health.retransmissionTimeout.value_or(microseconds(1s)));
    const milliseconds lead = 2 * tick + 1s + rto;
    // A peer already shown to be alive gets the whole user timeout of
    // silence, as an idle one does, but never less than the probe spacing
    // that lead allows (1.3-1.7 s between answers with a 1 s user timeout):
    // a shorter bound would take a live peer's next answer for silence. A
    // busy peer that never answered (the plain data-in-flight death) gets no
    // extension at all.
    if (answeredNow || (m_bridged && ackAge < std::max(m_userTimeout, lead) + tick)) {
        const milliseconds extended =
                milliseconds((coarseNowNs() - m_stallSinceNs) / 1000000) + lead;
        KeepAlivePlatform::setUserTimeout(descriptor, std::min(extended, milliseconds(INT_MAX)));
        m_bridged = true;
        m_pulledIn = false;
    } else if (m_bridged) {
        // Silent for a whole user timeout: the original bound, counted from
        // the stall's start, is long past; the kernel gives up at its next probe.
        restoreUserTimeout();
    } else if (health.unackedSegments.value_or(0) > 0) {
        pullInUserTimeout(health, descriptor);
    }
}

void StallGuard::pullInUserTimeout(const ConnectionHealth &health, qintptr descriptor)
{
    // Once per stall: later looks see a clamped timer, not the backoff the
    // estimate assumes.
    if (m_pulledIn)
        return;
    // The coarse clock may lag a write by its resolution: taken as later.
    std::optional<milliseconds> sinceLastWrite;
    if (m_lastWriteNs != 0)
        sinceLastWrite = milliseconds(
                std::max<qint64>(coarseNowNs() - m_lastWriteNs - CoarseClockResolutionNs, 0)
                / 1000000);
    const std::optional<milliseconds> value =
            userTimeoutForSilentPeer(health, m_userTimeout, sinceLastWrite);
    if (!value || *value >= m_userTimeout)
        return;
    m_pulledIn = KeepAlivePlatform::setUserTimeout(descriptor, *value);
    qCDebug(lcKeepAlive) << "silent peer with data in flight: user timeout" << value->count()
                         << "ms now, so that the kernel ends it at the bound";
}

void StallGuard::restoreUserTimeout()
{
    const qintptr descriptor = m_site->transport.descriptor();
    if (descriptor != -1 && !KeepAlivePlatform::setUserTimeout(descriptor, m_userTimeout))
        qCWarning(lcKeepAlive) << "could not restore the user timeout" << m_userTimeout.count()
                               << "ms";
}
