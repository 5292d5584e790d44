// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
#include "keepalivesocket.h"

#include "keepaliveplatform_p.h"
#include "keepalivesocket_p.h"

#include <QtCore/QChildEvent>
#include <QtCore/QSocketNotifier>

#include <algorithm>
#include <climits>

using namespace std::chrono;
using namespace std::chrono_literals;

Q_LOGGING_CATEGORY(lcKeepAlive, "qtkeepalive.socket", QtInfoMsg)

namespace {

using Reason = KeepAliveSocket::DeadPeerReason;
using OsError = KeepAlivePlatform::OsError;

QString formatSeconds(milliseconds value)
{
    if (value.count() % 1000 == 0)
        return QStringLiteral("%1 s").arg(value.count() / 1000);
    return QStringLiteral("%1 s").arg(double(value.count()) / 1000.0, 0, 'f', 3);
}

// The Qt error that Qt derives from each errno on a failed read; an errno
// that does not match what Qt reported was clobbered and is not used.
bool consistent(OsError osError, QAbstractSocket::SocketError qtError)
{
    switch (osError) {
    case OsError::TimedOut:
        return qtError == QAbstractSocket::SocketTimeoutError;
    case OsError::Reset:
        // ECONNRESET reads as "0 bytes", i.e. RemoteHostClosedError; EPIPE as NetworkError.
        return qtError == QAbstractSocket::RemoteHostClosedError
                || qtError == QAbstractSocket::NetworkError;
    case OsError::HostUnreachable:
    case OsError::NetworkUnreachable:
    case OsError::Other:
        return qtError == QAbstractSocket::NetworkError;
    case OsError::None:
        break;
    }
    return false;
}

// A pending socket error (POLLERR) that Qt read as "remote host closed" is
// a received RST: an orderly FIN never raises POLLERR.
OsError fromQtError(QAbstractSocket::SocketError qtError)
{
    switch (qtError) {
    case QAbstractSocket::SocketTimeoutError:
        return OsError::TimedOut;
    case QAbstractSocket::RemoteHostClosedError:
        return OsError::Reset;
    case QAbstractSocket::NetworkError:
        return OsError::Other;
    default:
        return OsError::None;
    }
}

} // namespace

KeepAliveSocket::DeadPeerReason classifyDeadPeer(QAbstractSocket::SocketError qtError,
                                                 OsError osError, const DeathEvidence &evidence)
{
    if (!consistent(osError, qtError))
        osError = fromQtError(qtError);
    switch (osError) {
    case OsError::TimedOut: {
        // Keepalive probes leave tcpi_probes > 0 and never touch the
        // retransmission backoff; a retransmission or zero-window-probe death
        // leaves retransmits or backoff > 0 (FACTS: probes 2 / retrans 0
        // versus probes 0 / retrans 4).
        const ConnectionHealth &h = evidence.health;
        const bool retransmitting = evidence.sendStalled || h.retransmits.value_or(0) > 0
                || h.backoff.value_or(0) > 0 || (!h.isValid() && evidence.dataOutstanding);
        return retransmitting ? Reason::RetransmissionTimeout : Reason::KeepAliveTimeout;
    }
    case OsError::Reset:
        return Reason::ConnectionReset;
    case OsError::HostUnreachable:
        return Reason::HostUnreachable;
    case OsError::NetworkUnreachable:
        return Reason::NetworkUnreachable;
    case OsError::Other:
        return Reason::OtherError;
    case OsError::None:
        break;
    }
    return Reason::None;
}

QString deadPeerMessage(KeepAliveSocket::DeadPeerReason reason, const KeepAliveOptions &applied,
                        const DeathEvidence &evidence, const QString &qtErrorString)
{
    // As the kernel applied them: sub-second values were rounded up.
    const auto &limits = KeepAlivePlatform::limits();
    const QString settings =
            QStringLiteral("idle %1, interval %2")
                    .arg(formatSeconds(KeepAlivePlatform::roundUp(applied.idle(), limits.idle)),
                         formatSeconds(
                                 KeepAlivePlatform::roundUp(applied.interval(), limits.interval)));
    const milliseconds userTimeout =
            KeepAlivePlatform::roundUp(applied.userTimeout(), limits.userTimeout);
    const QString retransmissionBound = userTimeout > 0ms
            ? QStringLiteral("the %1 user timeout").arg(formatSeconds(userTimeout))
            : QStringLiteral("the kernel's retransmission limit (user timeout off)");
    switch (reason) {
    case Reason::KeepAliveTimeout: {
        const int probes = evidence.health.probes.value_or(0) > 0 ? *evidence.health.probes
                                                                  : applied.probeCount();
        return QStringLiteral("peer did not answer %1 keepalive %2 (%3)")
                .arg(probes)
                .arg(probes == 1 ? QStringLiteral("probe") : QStringLiteral("probes"), settings);
    }
    case Reason::RetransmissionTimeout:
        if (evidence.sendStalled)
            return QStringLiteral("peer stopped answering while it was not accepting our data "
                                  "(user timeout %1)")
                    .arg(formatSeconds(userTimeout));
        return QStringLiteral("peer did not acknowledge sent data within %1 (%2)")
                .arg(retransmissionBound, settings);
    case Reason::ConnectionReset:
        return QStringLiteral("connection reset by peer (RST received)");
    case Reason::HostUnreachable:
        // Only with data in flight: Linux ignores ICMP errors quoting a
        // keepalive probe (its sequence number lies outside the window).
        return QStringLiteral("peer host unreachable (ICMP host unreachable until %1 ended the "
                              "connection)")
                .arg(retransmissionBound);
    case Reason::NetworkUnreachable:
        return QStringLiteral("peer network unreachable (ICMP network unreachable until %1 ended "
                              "the connection)")
                .arg(retransmissionBound);
    case Reason::HeartbeatTimeout:
        return QStringLiteral("peer did not answer the application heartbeat");
    case Reason::OtherError:
        return QStringLiteral("connection failed: %1").arg(qtErrorString);
    case Reason::None:
        break;
    }
    return qtErrorString;
}

KeepAliveSocketPrivate::KeepAliveSocketPrivate(KeepAliveSocket *socket) : q(socket)
{
    stallTimer.setTimerType(Qt::PreciseTimer);
    KeepAliveOptionsAccess::setKnownFields(lastEffective, {});
}

void KeepAliveSocketPrivate::setKeepAliveError(KeepAliveSocket::KeepAliveError error,
                                               const QString &message)
{
    keepAliveError = error;
    keepAliveErrorString = message;
    if (error != KeepAliveSocket::KeepAliveError::NoError) {
        qCWarning(lcKeepAlive).noquote() << message;
        Q_EMIT q->keepAliveErrorOccurred(error);
    }
}

void KeepAliveSocketPrivate::applyOptions()
{
    const qintptr descriptor = q->socketDescriptor();
    if (descriptor == -1 || q->state() != QAbstractSocket::ConnectedState)
        return;
    evidence.reset();
    const KeepAlivePlatform::ApplyResult result = KeepAlivePlatform::apply(descriptor, options);
    if (result.refused)
        setKeepAliveError(
                KeepAliveSocket::KeepAliveError::OptionRefused,
                QStringLiteral("the kernel refused keepalive options: %1").arg(result.message));
    else
        setKeepAliveError(KeepAliveSocket::KeepAliveError::NoError, QString());
    const KeepAliveOptions effective = KeepAlivePlatform::readBack(descriptor);
    qCDebug(lcKeepAlive) << "applied" << options << "kernel holds" << effective;
    if (effective != lastEffective) {
        lastEffective = effective;
        Q_EMIT q->effectiveKeepAliveOptionsChanged(effective);
    }
    // apply() has just set TCP_USER_TIMEOUT: a stall being bridged on this
    // connection needs its extension back before the kernel's next probe.
    if (stallBridged)
        watchStall();
    // Data may already be outstanding (new options mid-stall, an adopted
    // busy descriptor); the first tick stops the watch if there is none.
    startStallWatch();
}

bool KeepAliveSocketPrivate::inspectNotification(QObject *watched)
{
    const auto state = q->state();
    // While connecting, a pending error is a failed connect: Qt's business.
    if (state != QAbstractSocket::ConnectedState && state != QAbstractSocket::ClosingState)
        return false;
    auto *notifier = qobject_cast<QSocketNotifier *>(watched);
    if (!notifier)
        return false;
    const qintptr descriptor = notifier->socket();
    if (!KeepAlivePlatform::hasPendingError(descriptor))
        return false;
    // Qt's read of a failed socket closes the descriptor before
    // errorOccurred() is emitted: TCP_INFO has to be read now.
    if (!evidence)
        evidence = DeathEvidence{KeepAlivePlatform::health(descriptor), stallBridged,
                                 stallTimer.isActive()};
    if (notifier->type() == QSocketNotifier::Write) {
        // Qt's write path would consume the error and abort(), which drops the
        // bytes already received; the read path reports it instead.
        notifier->setEnabled(false);
        ensureReadPathRuns(notifier);
        return true;
    }
    KeepAlivePlatform::clearLastError();
    return false;
}

void KeepAliveSocketPrivate::ensureReadPathRuns(QSocketNotifier *writeNotifier)
{
    // Qt stops reading in ClosingState and while the read buffer is full;
    // then nobody would ever read the error and the socket would hang.
    const auto notifiers =
            writeNotifier->parent()->findChildren<QSocketNotifier *>(Qt::FindDirectChildrenOnly);
    for (QSocketNotifier *notifier : notifiers) {
        if (notifier->type() != QSocketNotifier::Read || notifier->isEnabled())
            continue;
        if (q->state() == QAbstractSocket::ConnectedState && q->readBufferSize() > 0) {
            // Lifting the limit makes Qt read (and keep) what the kernel still
            // holds, then the error; the limit returns on disconnect.
            savedReadBufferSize = q->readBufferSize();
            q->setReadBufferSize(0);
        } else {
            notifier->setEnabled(true);
        }
    }
}

void KeepAliveSocketPrivate::onErrorOccurred(QAbstractSocket::SocketError error)
{
    // Taken first: errno of the read that failed, if nothing has overwritten it
    // (classifyDeadPeer() checks it against Qt's error code).
    const OsError osError = KeepAlivePlatform::lastError();
    const auto state = q->state();
    if (state != QAbstractSocket::ConnectedState && state != QAbstractSocket::ClosingState)
        return;
    DeathEvidence seen;
    if (evidence) {
        seen = *evidence;
    } else if (error == QAbstractSocket::SocketTimeoutError && !q->isValid()) {
        // No pre-read look (a blocking waitFor...() bypassed the notifiers),
        // but Qt's engine failed with ETIMEDOUT: a dead peer. (A waitFor...()
        // that merely timed out leaves the engine valid.)
        seen.sendStalled = stallBridged;
        seen.dataOutstanding = dataOutstandingAtBlockingWait;
    } else {
        return;
    }
    evidence.reset();
    const KeepAliveSocket::DeadPeerReason reason = classifyDeadPeer(error, osError, seen);
    if (reason == KeepAliveSocket::DeadPeerReason::None)
        return;
    deadPeerReason = reason;
    const QString message = deadPeerMessage(reason, options, seen, q->errorString());
    qCInfo(lcKeepAlive).noquote() << "dead peer" << q->peerAddress().toString() << q->peerPort()
                                  << reason << message << seen.health;
    q->setErrorString(message);
    Q_EMIT q->deadPeer(reason);
}

void KeepAliveSocketPrivate::noteBlockingWait()
{
    const ConnectionHealth health = KeepAlivePlatform::health(q->socketDescriptor());
    dataOutstandingAtBlockingWait = q->bytesToWrite() > 0 || health.unackedSegments.value_or(0) > 0
            || health.notSentBytes.value_or(0) > 0;
}

void KeepAliveSocketPrivate::onDisconnected()
{
    evidence.reset();
    stopStallWatch();
    if (savedReadBufferSize) {
        q->setReadBufferSize(*savedReadBufferSize);
        savedReadBufferSize.reset();
    }
    // Without a connection nothing is known (see effectiveKeepAliveOptions()).
    if (lastEffective.knownFields()) {
        KeepAliveOptionsAccess::setKnownFields(lastEffective, {});
        Q_EMIT q->effectiveKeepAliveOptionsChanged(lastEffective);
    }
}

void KeepAliveSocketPrivate::stopStallWatch()
{
    stallTimer.stop();
    stallSince.invalidate();
    stallBridged = false;
}

void KeepAliveSocketPrivate::startStallWatch()
{
    if (options.userTimeout() <= 0ms) {
        // No kernel bound, nothing for the guard to defend against.
        stopStallWatch();
        return;
    }
    const milliseconds tick =
            std::clamp(options.userTimeout() / 4, milliseconds(50), milliseconds(1000));
    if (stallTimer.isActive() && stallTimer.intervalAsDuration() == tick)
        return;
    stallTimer.start(tick);
}

void KeepAliveSocketPrivate::watchStall()
{
    const qintptr descriptor = q->socketDescriptor();
    const ConnectionHealth health = KeepAlivePlatform::health(descriptor);
    if (!health.isValid() || q->state() != QAbstractSocket::ConnectedState) {
        stallTimer.stop();
        return;
    }
    const quint32 notSent = health.notSentBytes.value_or(0);
    const quint32 unacked = health.unackedSegments.value_or(0);
    const milliseconds ackAge = health.sinceLastAckReceived.value_or(milliseconds::max());
    const milliseconds sendAge = health.sinceLastDataSent.value_or(0ms);
    const milliseconds userTimeout = options.userTimeout();
    const milliseconds tick = milliseconds(stallTimer.interval());

    // Two ways a live peer that stops reading stalls our send side, both of
    // which TCP_USER_TIMEOUT would end (FACTS: 3.5 s with 3000 ms):
    // - zero window: data queued, nothing in flight; the peer answers window
    //   probes (every ACK resets tcpi_probes to 0);
    // - a window shrunk below what is in flight: retransmissions that the
    //   peer answers with duplicate ACKs (ACK newer than our last send).
    const bool zeroWindow = unacked == 0 && notSent > 0;
    const bool backingOff =
            unacked > 0 && (health.retransmits.value_or(0) > 0 || health.backoff.value_or(0) > 0);
    if (zeroWindow || backingOff) {
        if (!stallSince.isValid())
            stallSince.start();
        const bool answeredNow = zeroWindow ? health.probes.value_or(1) == 0 : ackAge <= sendAge;
        // A peer already shown to be alive gets the whole user timeout of
        // silence, as an idle one does; a busy peer that never answered
        // (the plain data-in-flight death) gets no extension at all.
        const bool peerAnswers = answeredNow || (stallBridged && ackAge < userTimeout + tick);
        if (peerAnswers) {
            // The kernel counts the user timeout from the stall's first probe or
            // retransmission and spaces probes at most the remaining time apart.
            // A deadline kept a little ahead makes it probe often (so silence
            // shows quickly) without ever expiring while we keep ticking; the
            // RTO covers a stall that began before our first look.
            const milliseconds rto = duration_cast<milliseconds>(
                    health.retransmissionTimeout.value_or(microseconds(1s)));
            const milliseconds extended = milliseconds(stallSince.elapsed()) + 2 * tick + 1s + rto;
            KeepAlivePlatform::setUserTimeout(descriptor, std::min(extended, milliseconds(INT_MAX)));
            stallBridged = true;
        } else if (stallBridged) {
            // Silent for a whole user timeout: the original bound, counted from
            // the stall's start, is long past; the kernel gives up at its next probe.
            restoreUserTimeout();
        }
        return;
    }
    if (stallSince.isValid()) {
        if (stallBridged)
            restoreUserTimeout();
        stallSince.invalidate();
        stallBridged = false;
    }
    if (unacked == 0 && notSent == 0 && q->bytesToWrite() == 0)
        stallTimer.stop();
}

void KeepAliveSocketPrivate::restoreUserTimeout()
{
    if (!KeepAlivePlatform::setUserTimeout(q->socketDescriptor(), options.userTimeout()))
        qCWarning(lcKeepAlive) << "could not restore the user timeout"
                               << options.userTimeout().count() << "ms";
}

KeepAliveSocket::KeepAliveSocket(QObject *parent)
    : QTcpSocket(parent),
      d(std::make_unique<KeepAliveSocketPrivate>(this))
{
    // Connected before any user connection, so these run first.
    connect(this, &QAbstractSocket::connected, this, [this] { d->applyOptions(); });
    connect(this, &QAbstractSocket::errorOccurred, this,
            [this](SocketError error) { d->onErrorOccurred(error); });
    connect(this, &QAbstractSocket::disconnected, this, [this] { d->onDisconnected(); });
    connect(this, &QIODevice::bytesWritten, this, [this] { d->startStallWatch(); });
    connect(&d->stallTimer, &QTimer::timeout, this, [this] { d->watchStall(); });
}

KeepAliveSocket::~KeepAliveSocket()
{
    // ~QAbstractSocket() still disconnects and emits disconnected(); our
    // handlers must not run once the private part is gone.
    disconnect(this, nullptr, this, nullptr);
}

bool KeepAliveSocket::setKeepAliveOptions(const KeepAliveOptions &options)
{
    QString problem = options.validationError();
    if (problem.isEmpty() && options.knownFields() != KeepAliveOptions().knownFields())
        problem = QStringLiteral(
                "options with unknown fields (as read back from a socket) cannot be applied");
    if (!problem.isEmpty()) {
        d->setKeepAliveError(KeepAliveError::InvalidOptions,
                             QStringLiteral("invalid keepalive options: %1").arg(problem));
        return false;
    }
    const bool changed = options != d->options;
    d->options = options;
    d->setKeepAliveError(KeepAliveError::NoError, QString());
    if (changed)
        Q_EMIT keepAliveOptionsChanged(options);
    d->applyOptions();
    return d->keepAliveError == KeepAliveError::NoError;
}

KeepAliveOptions KeepAliveSocket::keepAliveOptions() const
{
    return d->options;
}

KeepAliveOptions KeepAliveSocket::effectiveKeepAliveOptions() const
{
    const qintptr descriptor = socketDescriptor();
    if (descriptor != -1 && state() == ConnectedState)
        return KeepAlivePlatform::readBack(descriptor);
    KeepAliveOptions none;
    KeepAliveOptionsAccess::setKnownFields(none, {});
    return none;
}

KeepAliveSocket::KeepAliveError KeepAliveSocket::keepAliveError() const
{
    return d->keepAliveError;
}

QString KeepAliveSocket::keepAliveErrorString() const
{
    return d->keepAliveErrorString;
}

KeepAliveSocket::DeadPeerReason KeepAliveSocket::deadPeerReason() const
{
    return d->deadPeerReason;
}

ConnectionHealth KeepAliveSocket::connectionHealth() const
{
    const qintptr descriptor = socketDescriptor();
    if (descriptor == -1)
        return {};
    return KeepAlivePlatform::health(descriptor);
}

bool KeepAliveSocket::setSocketDescriptor(qintptr socketDescriptor, SocketState state,
                                          OpenMode openMode)
{
    if (!QTcpSocket::setSocketDescriptor(socketDescriptor, state, openMode))
        return false;
    d->applyOptions();
    return true;
}

bool KeepAliveSocket::waitForReadyRead(int msecs)
{
    d->noteBlockingWait();
    return QTcpSocket::waitForReadyRead(msecs);
}

bool KeepAliveSocket::waitForBytesWritten(int msecs)
{
    d->noteBlockingWait();
    return QTcpSocket::waitForBytesWritten(msecs);
}

bool KeepAliveSocket::waitForDisconnected(int msecs)
{
    d->noteBlockingWait();
    return QTcpSocket::waitForDisconnected(msecs);
}

bool KeepAliveSocket::eventFilter(QObject *watched, QEvent *event)
{
    switch (event->type()) {
    case QEvent::ChildAdded:
        // Qt's socket engine (a child of this socket) creates its read and
        // write notifiers lazily and anew for every connection.
        if (watched->parent() == this)
            static_cast<QChildEvent *>(event)->child()->installEventFilter(this);
        break;
    case QEvent::SockAct:
        if (watched->parent() && watched->parent()->parent() == this
            && d->inspectNotification(watched))
            return true;
        break;
    default:
        break;
    }
    return QTcpSocket::eventFilter(watched, event);
}

void KeepAliveSocket::childEvent(QChildEvent *event)
{
    // The engine is created per connection, as a child of this socket.
    if (event->added())
        event->child()->installEventFilter(this);
    QTcpSocket::childEvent(event);
}
