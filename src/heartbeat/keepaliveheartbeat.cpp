// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
#include "keepaliveheartbeat.h"

#include "deathclassification_p.h"
#include "keepaliveengine_p.h"
#include "keepaliveformat_p.h"
#include "keepaliveheartbeat_p.h"
#include "keepalivelogging_p.h"

#include <QtCore/QEvent>
#include <QtCore/QMetaObject>
#include <QtCore/QPointer>
#include <QtCore/QRandomGenerator>
#include <QtCore/QTimer>
#include <QtNetwork/QHostAddress>

#include <algorithm>
#include <limits>

using namespace std::chrono;
using namespace std::chrono_literals;
using Kind = KeepAliveHeartbeatPrivate::Kind;

constexpr int PhaseSteps = 16;

namespace {

// The longest detection bound: the steady clock's range (292 years of
// nanoseconds), so that every deadline of the heartbeat is exact and
// detectionBound() cannot overflow.
constexpr milliseconds MaxBound = floor<milliseconds>(ThreadScheduler::Clock::duration::max());

// The three limits below keep interval × (maxMissed + 1) + jitter <= MaxBound,
// each computed without overflow from the other two settings (which satisfy it).

milliseconds maxInterval(int maxMissed, milliseconds jitter, bool jitterFollowsInterval)
{
    const qint64 periods = qint64(maxMissed) + 1;
    // A following jitter is interval / 10: interval × (periods + 0.1) <= MaxBound.
    if (jitterFollowsInterval)
        return milliseconds(MaxBound.count() * 10 / (periods * 10 + 1));
    return milliseconds((MaxBound - jitter).count() / periods);
}

int maxMaxMissed(milliseconds interval, milliseconds jitter)
{
    const qint64 periods = (MaxBound - jitter).count() / interval.count();
    return int(std::min<qint64>(periods - 1, std::numeric_limits<int>::max()));
}

milliseconds maxJitter(milliseconds interval, int maxMissed)
{
    return std::min(interval, MaxBound - interval * (milliseconds::rep(maxMissed) + 1));
}

QString boundRule()
{
    return QStringLiteral("(the detection bound interval × (maxMissed + 1) + jitter must not "
                          "exceed %1, about 292 years)")
            .arg(formatDuration(MaxBound));
}

bool isOpen(QAbstractSocket::SocketState state)
{
    return state == QAbstractSocket::ConnectedState || state == QAbstractSocket::ClosingState;
}

} // namespace

QAbstractSocket::SocketState WatchedConnection::state() const
{
    return webSocket ? QAbstractSocket::SocketState(webSocket->state(object)) : socket()->state();
}

qint64 WatchedConnection::bytesAvailable() const
{
    return webSocket ? 0 : socket()->bytesAvailable();
}

void WatchedConnection::pingFrame(const QByteArray &payload) const
{
    webSocket->ping(object, payload);
}

void WatchedConnection::end(const QString &reason) const
{
    if (!webSocket) {
        socket()->disconnectFromHost();
        return;
    }
    // The close frame goes out at once. Qt up to 6.8 then closes the socket
    // under the QWebSocket; later versions wait for the peer's close frame,
    // which a dead peer never sends: the connection ends now either way.
    const QPointer<QObject> alive(object);
    webSocket->close(object, reason);
    if (alive && state() != QAbstractSocket::UnconnectedState)
        webSocket->abort(object);
}

void WatchedConnection::abort() const
{
    if (webSocket)
        webSocket->abort(object);
    else
        socket()->abort();
}

QString WatchedConnection::peer() const
{
    if (!webSocket)
        return socket()->peerAddress().toString() + QLatin1Char(' ')
                + QString::number(socket()->peerPort());
    QHostAddress local;
    QHostAddress peer;
    quint16 localPort = 0;
    quint16 peerPort = 0;
    webSocket->endpoints(object, &local, &localPort, &peer, &peerPort);
    return peer.toString() + QLatin1Char(' ') + QString::number(peerPort);
}

bool KeepAliveHeartbeatPrivate::reject(const QString &message)
{
    qCWarning(lcKeepAlive).noquote() << "KeepAliveHeartbeat:" << message;
    if (errorString != message) {
        errorString = message;
        Q_EMIT q->errorStringChanged(errorString);
    }
    return false;
}

void KeepAliveHeartbeatPrivate::accepted()
{
    if (!errorString.isEmpty()) {
        errorString.clear();
        Q_EMIT q->errorStringChanged(errorString);
    }
}

void KeepAliveHeartbeatPrivate::setDeadPeerMessage(const QString &message)
{
    if (deadPeerMessage == message)
        return;
    deadPeerMessage = message;
    Q_EMIT q->deadPeerMessageChanged(deadPeerMessage);
}

void KeepAliveHeartbeatPrivate::start()
{
    if (scheduler || watched.state() != QAbstractSocket::ConnectedState)
        return;
    ++connection;
    missed = 0;
    deathReported = false;
    pingWrittenAt.reset();
    setDeadPeerMessage(QString()); // a new connection: the last one's death is history
    scheduler = ThreadScheduler::forCurrentThread();
    scheduler->add(this);
    const Clock::time_point now = ThreadScheduler::now();
    availableSeen = watched.bytesAvailable();
    restartPing();
    scheduleIdle(Kind::ReaderIdle, readerIdleTime, now);
    scheduleIdle(Kind::WriterIdle, writerIdleTime, now);
    scheduleIdle(Kind::AllIdle, allIdleTime, now);
}

void KeepAliveHeartbeatPrivate::restartPing()
{
    // A phase of its own per connection (and per change of the settings):
    // clients reconnected together ping apart. In 16 steps: each step is a
    // queue of its own in the scheduler (see schedulePing()).
    phase = jitter * QRandomGenerator::global()->bounded(PhaseSteps + 1) / PhaseSteps;
    missed = 0;
    schedulePing(interval + phase, ThreadScheduler::now());
}

void KeepAliveHeartbeatPrivate::schedulePing(milliseconds timeout, Clock::time_point now)
{
    // Always scheduled from now, the phase in the timeout: a TimeoutQueue
    // expires from its front and stops at the first entry not yet due, so an
    // entry touched with a future time would hold back every entry behind it
    // (by up to the jitter: measured, 1000 heartbeats then pinged in one
    // 50 ms slot). Touched at now, each queue stays in deadline order.
    if (pingTimeout != timeout && pingTimeout > 0ms)
        scheduler->cancel(this, int(Kind::Ping), pingTimeout);
    pingTimeout = timeout;
    scheduler->schedule(this, int(Kind::Ping), timeout, now);
}

void KeepAliveHeartbeatPrivate::stop()
{
    if (!scheduler)
        return;
    ThreadScheduler *const leaving = scheduler;
    scheduler = nullptr;
    pingTimeout = 0ms;
    leaving->remove(this);
}

void KeepAliveHeartbeatPrivate::scheduleIdle(Kind kind, milliseconds time, Clock::time_point now)
{
    if (scheduler && time > 0ms)
        scheduler->schedule(this, int(kind), time, now);
}

void KeepAliveHeartbeatPrivate::stateChanged(QAbstractSocket::SocketState state)
{
    if (state == QAbstractSocket::ConnectedState)
        start();
    else if (!isOpen(state))
        stop();
}

void KeepAliveHeartbeatPrivate::received(Clock::time_point now, bool answer)
{
    if (!scheduler)
        return;
    if (answer && pingWrittenAt) {
        roundTripTime = duration_cast<microseconds>(steady_clock::now() - *pingWrittenAt);
        pingWrittenAt.reset();
        Q_EMIT q->roundTripTimeChanged(roundTripTime);
    }
    missed = 0;
    availableSeen = watched.bytesAvailable();
    schedulePing(interval + phase, now);
    scheduleIdle(Kind::ReaderIdle, readerIdleTime, now);
    scheduleIdle(Kind::AllIdle, allIdleTime, now);
}

void KeepAliveHeartbeatPrivate::written()
{
    if (!scheduler)
        return;
    const Clock::time_point now = ThreadScheduler::now();
    scheduleIdle(Kind::WriterIdle, writerIdleTime, now);
    scheduleIdle(Kind::AllIdle, allIdleTime, now);
}

void KeepAliveHeartbeatPrivate::expired(int entry, Clock::time_point now)
{
    const auto kind = Kind(entry);
    switch (kind) {
    case Kind::Ping:
        // Data that arrived without a readyRead() we saw (emitted while a
        // handler of ours was on the stack) still proves life.
        if (watched.bytesAvailable() > availableSeen) {
            received(now);
            return;
        }
        availableSeen = watched.bytesAvailable();
        if (missed >= maxMissed) {
            declareDead();
            return;
        }
        ping(now);
        return;
    case Kind::ReaderIdle:
        scheduleIdle(kind, readerIdleTime, now);
        Q_EMIT q->readerIdle();
        return;
    case Kind::WriterIdle:
        scheduleIdle(kind, writerIdleTime, now);
        Q_EMIT q->writerIdle();
        return;
    case Kind::AllIdle:
        scheduleIdle(kind, allIdleTime, now);
        Q_EMIT q->allIdle();
        return;
    }
}

void KeepAliveHeartbeatPrivate::ping(Clock::time_point now)
{
    ++missed;
    // From now, not from the missed deadline plus the phase again: the
    // phase is added once per silence, so the bound holds.
    schedulePing(interval, now);
    bool written = true;
    if (watched.webSocket)
        watched.pingFrame(payload);
    else if (function)
        function(watched.socket());
    else if (!payload.isEmpty())
        watched.socket()->write(payload);
    else
        written = false;
    if (written)
        pingWrittenAt = steady_clock::now();
    Q_EMIT q->pingSent(missed);
}

void KeepAliveHeartbeatPrivate::declareDead()
{
    if (deathReported)
        return;
    deathReported = true;
    stop();
    const QString message = heartbeatDeathMessage(missed, interval);
    setDeadPeerMessage(message);

    // The death is also the KeepAliveSocket's: the one watched, or the one
    // under a watched QWebSocket (recognised by the connection's endpoints
    // as it starts to close). Either reports it, and logs it, as it closes.
    // A handler may delete the socket, and its engine with it.
    const QPointer<QAbstractSocket> engineSocket =
            watched.socket() && KeepAliveEngine::of(watched.socket()) ? watched.socket() : nullptr;
    const auto engine = [&engineSocket] {
        return engineSocket ? KeepAliveEngine::of(engineSocket) : nullptr;
    };
    std::optional<KeepAliveEngine::ForeignHeartbeatDeath> foreign;
    if (watched.webSocket) {
        KeepAliveEngine::ForeignHeartbeatDeath::Endpoints ends;
        watched.webSocket->endpoints(watched.object, &ends.localAddress, &ends.localPort,
                                     &ends.peerAddress, &ends.peerPort);
        foreign.emplace(ends, message);
    }
    const QString peer = watched.peer();

    // The verdict stands whatever the handlers do: one that ends the
    // connection itself still sees deadPeer() first (the engine reports it
    // as the socket closes), and one that deletes this heartbeat does not
    // keep the dead connection open. Nothing of this object is used after
    // the signal unless it is still alive.
    if (KeepAliveEngine *const before = engine())
        before->expectHeartbeatDeath(message);
    const WatchedConnection target = watched;
    const QPointer<QObject> targetAlive(watched.object);
    const QPointer<KeepAliveHeartbeat> alive(q);
    const quint64 current = connection;
    // Qt holds unsent data and waits for the dead peer to take it. A QTimer
    // holds at most INT_MAX ms: a longer interval waits that long.
    const milliseconds grace = std::min(interval, milliseconds(std::numeric_limits<int>::max()));
    Q_EMIT q->heartbeatTimeout();

    // A KeepAliveSocket reports it as its own death: deadPeer(HeartbeatTimeout),
    // once per connection whatever else the engine saw.
    if (KeepAliveEngine *const after = engine())
        after->reportHeartbeatDeath();
    if (targetAlive && isOpen(target.state()))
        endDeadConnection(target, message, grace, alive, current);
    if (!engine() && !(foreign && foreign->isTaken()))
        qCInfo(lcKeepAlive).noquote() << "dead peer" << peer << "HeartbeatTimeout" << message;
}

void KeepAliveHeartbeatPrivate::endDeadConnection(const WatchedConnection &watched,
                                                  const QString &message, milliseconds grace,
                                                  const QPointer<KeepAliveHeartbeat> &heartbeat,
                                                  quint64 connection)
{
    // Not abort(): that closes the device and drops what was received;
    // disconnectFromHost() keeps it readable in disconnected().
    const QPointer<QObject> target(watched.object);
    watched.end(message);
    if (!target || watched.state() == QAbstractSocket::UnconnectedState)
        return;
    QTimer::singleShot(grace, target, [watched, heartbeat, connection] {
        // Not a later connection of the same socket.
        if (heartbeat && KeepAliveHeartbeatPrivate::get(heartbeat)->connection != connection)
            return;
        if (watched.state() == QAbstractSocket::ClosingState)
            watched.abort();
    });
}

bool KeepAliveHeartbeatPrivate::setIdleTime(Kind kind, const char *name, milliseconds &time,
                                            milliseconds value, bool *changed)
{
    if (value < 0ms)
        return reject(QStringLiteral("%1 %2 is out of range: it must be 0 (off) or greater")
                              .arg(QLatin1String(name), formatDuration(value)));
    accepted();
    *changed = value != time;
    if (*changed)
        setTime(kind, time, value);
    return true;
}

void KeepAliveHeartbeatPrivate::setTime(Kind kind, milliseconds &time, milliseconds value)
{
    const milliseconds old = time;
    time = value;
    if (scheduler) {
        if (old > 0ms)
            scheduler->cancel(this, int(kind), old);
        scheduleIdle(kind, value, ThreadScheduler::now());
    }
}

KeepAliveHeartbeat::KeepAliveHeartbeat(QAbstractSocket *socket)
    : QObject(socket),
      d(std::make_unique<KeepAliveHeartbeatPrivate>(this, WatchedConnection{socket, nullptr}))
{
    Q_ASSERT(socket);
    connect(socket, &QIODevice::readyRead, this, [this] { d->received(ThreadScheduler::now()); });
    connect(socket, &QIODevice::bytesWritten, this, [this] { d->written(); });
    connect(socket, &QAbstractSocket::stateChanged, this,
            [this](QAbstractSocket::SocketState state) { d->stateChanged(state); });
    d->start();
}

KeepAliveHeartbeat::KeepAliveHeartbeat(QObject *webSocket, const WebSocketAccess *access)
    : QObject(webSocket),
      d(std::make_unique<KeepAliveHeartbeatPrivate>(this, WatchedConnection{webSocket, access}))
{
    Q_ASSERT(webSocket);
}

void KeepAliveHeartbeat::onWebSocketReceived(bool pong)
{
    d->received(ThreadScheduler::now(), pong);
}

void KeepAliveHeartbeat::onWebSocketBytesWritten()
{
    d->written();
}

void KeepAliveHeartbeat::onWebSocketStateChanged(int state)
{
    d->stateChanged(QAbstractSocket::SocketState(state));
}

KeepAliveHeartbeat::~KeepAliveHeartbeat()
{
    d->stop();
}

QAbstractSocket *KeepAliveHeartbeat::socket() const
{
    return d->watched.socket();
}

QObject *KeepAliveHeartbeat::watched() const
{
    return d->watched.object;
}

milliseconds KeepAliveHeartbeat::interval() const
{
    return d->interval;
}

bool KeepAliveHeartbeat::setInterval(milliseconds interval)
{
    if (interval <= 0ms)
        return d->reject(QStringLiteral("interval %1 is out of range: it must be greater than 0")
                                 .arg(formatDuration(interval)));
    if (!d->jitterFollowsInterval && d->jitter > interval)
        return d->reject(QStringLiteral("interval %1 is out of range: it must be at least the "
                                        "jitter (%2)")
                                 .arg(formatDuration(interval), formatDuration(d->jitter)));
    const milliseconds longest = maxInterval(d->maxMissed, d->jitter, d->jitterFollowsInterval);
    if (interval > longest)
        return d->reject(QStringLiteral("interval %1 is out of range: with maxMissed %2 it must be "
                                        "1 ms .. %3 %4")
                                 .arg(formatDuration(interval))
                                 .arg(d->maxMissed)
                                 .arg(formatDuration(longest), boundRule()));
    d->accepted();
    if (interval == d->interval)
        return true;
    d->interval = interval;
    const bool jitterChanges = d->jitterFollowsInterval && d->jitter != interval / 10;
    if (jitterChanges)
        d->jitter = interval / 10;
    // A change while connected counts the silence from now, in a new phase.
    if (d->scheduler)
        d->restartPing();
    Q_EMIT intervalChanged(interval);
    if (jitterChanges)
        Q_EMIT jitterChanged(d->jitter);
    return true;
}

int KeepAliveHeartbeat::maxMissed() const
{
    return d->maxMissed;
}

bool KeepAliveHeartbeat::setMaxMissed(int maxMissed)
{
    if (maxMissed < 1)
        return d->reject(QStringLiteral("maxMissed %1 is out of range: it must be at least 1")
                                 .arg(maxMissed));
    const int most = maxMaxMissed(d->interval, d->jitter);
    if (maxMissed > most)
        return d->reject(QStringLiteral("maxMissed %1 is out of range: with interval %2 it must "
                                        "be 1 .. %3 %4")
                                 .arg(maxMissed)
                                 .arg(formatDuration(d->interval))
                                 .arg(most)
                                 .arg(boundRule()));
    d->accepted();
    if (maxMissed == d->maxMissed)
        return true;
    d->maxMissed = maxMissed;
    Q_EMIT maxMissedChanged(maxMissed);
    return true;
}

milliseconds KeepAliveHeartbeat::jitter() const
{
    return d->jitter;
}

bool KeepAliveHeartbeat::setJitter(milliseconds jitter)
{
    if (jitter < 0ms || jitter > d->interval)
        return d->reject(QStringLiteral("jitter %1 is out of range: it must be 0 ms .. the "
                                        "interval (%2)")
                                 .arg(formatDuration(jitter), formatDuration(d->interval)));
    const milliseconds largest = maxJitter(d->interval, d->maxMissed);
    if (jitter > largest)
        return d->reject(QStringLiteral("jitter %1 is out of range: with interval %2 and "
                                        "maxMissed %3 it must be 0 ms .. %4 %5")
                                 .arg(formatDuration(jitter), formatDuration(d->interval))
                                 .arg(d->maxMissed)
                                 .arg(formatDuration(largest), boundRule()));
    d->accepted();
    d->jitterFollowsInterval = false;
    if (jitter == d->jitter)
        return true;
    d->jitter = jitter;
    if (d->scheduler)
        d->restartPing();
    Q_EMIT jitterChanged(jitter);
    return true;
}

QByteArray KeepAliveHeartbeat::pingPayload() const
{
    return d->payload;
}

void KeepAliveHeartbeat::setPingPayload(const QByteArray &payload)
{
    d->function = nullptr;
    if (payload == d->payload)
        return;
    d->payload = payload;
    Q_EMIT pingPayloadChanged(payload);
}

KeepAliveHeartbeat::PingFunction KeepAliveHeartbeat::pingFunction() const
{
    return d->function;
}

void KeepAliveHeartbeat::setPingFunction(PingFunction function)
{
    d->function = std::move(function);
    if (!d->payload.isEmpty()) {
        d->payload.clear();
        Q_EMIT pingPayloadChanged(d->payload);
    }
}

milliseconds KeepAliveHeartbeat::readerIdleTime() const
{
    return d->readerIdleTime;
}

bool KeepAliveHeartbeat::setReaderIdleTime(milliseconds time)
{
    bool changed = false;
    if (!d->setIdleTime(Kind::ReaderIdle, "readerIdleTime", d->readerIdleTime, time, &changed))
        return false;
    if (changed)
        Q_EMIT readerIdleTimeChanged(time);
    return true;
}

milliseconds KeepAliveHeartbeat::writerIdleTime() const
{
    return d->writerIdleTime;
}

bool KeepAliveHeartbeat::setWriterIdleTime(milliseconds time)
{
    bool changed = false;
    if (!d->setIdleTime(Kind::WriterIdle, "writerIdleTime", d->writerIdleTime, time, &changed))
        return false;
    if (changed)
        Q_EMIT writerIdleTimeChanged(time);
    return true;
}

milliseconds KeepAliveHeartbeat::allIdleTime() const
{
    return d->allIdleTime;
}

bool KeepAliveHeartbeat::setAllIdleTime(milliseconds time)
{
    bool changed = false;
    if (!d->setIdleTime(Kind::AllIdle, "allIdleTime", d->allIdleTime, time, &changed))
        return false;
    if (changed)
        Q_EMIT allIdleTimeChanged(time);
    return true;
}

QString KeepAliveHeartbeat::errorString() const
{
    return d->errorString;
}

QString KeepAliveHeartbeat::deadPeerMessage() const
{
    return d->deadPeerMessage;
}

milliseconds KeepAliveHeartbeat::detectionBound() const
{
    return d->interval * (milliseconds::rep(d->maxMissed) + 1) + d->jitter;
}

int KeepAliveHeartbeat::missedCount() const
{
    return d->missed;
}

microseconds KeepAliveHeartbeat::roundTripTime() const
{
    return d->roundTripTime;
}

bool KeepAliveHeartbeat::event(QEvent *event)
{
    // Sent in the old thread just before the socket moves: leave this
    // thread's scheduler here, join the new thread's there (posted events
    // move with the object). Timers cannot cross threads.
    if (event->type() == QEvent::ThreadChange && d->scheduler) {
        d->stop();
        QMetaObject::invokeMethod(
                this, [this] { d->start(); }, Qt::QueuedConnection);
    }
    return QObject::event(event);
}
