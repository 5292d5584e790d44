// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
#include "keepalivesocket.h"

#include "keepaliveplatform_p.h"
#include "keepalivesocket_p.h"

#include <QtCore/QChildEvent>
#include <QtCore/QCoreApplication>
#include <QtCore/QPointer>
#include <QtCore/QScopedValueRollback>
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
        // ECONNRESET reads as "0 bytes", i.e. RemoteHostClosedError.
        return qtError == QAbstractSocket::RemoteHostClosedError;
    case OsError::PeerClosed:
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

// The Qt error a failed read with \a osError gives (qnativesocketengine_unix.cpp).
QAbstractSocket::SocketError qtErrorFor(OsError osError)
{
    switch (osError) {
    case OsError::TimedOut:
        return QAbstractSocket::SocketTimeoutError;
    case OsError::Reset:
        return QAbstractSocket::RemoteHostClosedError;
    default:
        return QAbstractSocket::NetworkError;
    }
}

} // namespace

KeepAliveSocket::DeadPeerReason classifyDeadPeer(QAbstractSocket::SocketError qtError,
                                                 OsError osError, const DeathEvidence &evidence)
{
    if (!consistent(osError, qtError)) {
        // Cleared before Qt's read and still clear: the read met an orderly
        // end-of-file (the peer's FIN came first, whatever followed it).
        if (osError == OsError::None && qtError == QAbstractSocket::RemoteHostClosedError
            && KeepAlivePlatform::lastErrorSurvivesQtRead())
            return Reason::None;
        osError = fromQtError(qtError);
    }
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
    case OsError::PeerClosed:
        // Our data met a peer that had already closed: an orderly close, not a death.
        return Reason::None;
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

KeepAliveSocketPrivate::KeepAliveSocketPrivate(KeepAliveSocket *socket)
    : q(socket),
      stallTimer(new QTimer(socket)),
      pauseTimer(new QTimer(socket))
{
    stallTimer->setTimerType(Qt::PreciseTimer);
    pauseTimer->setTimerType(Qt::PreciseTimer);
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

void KeepAliveSocketPrivate::setDeadPeerReason(KeepAliveSocket::DeadPeerReason reason)
{
    if (reason == deadPeerReason)
        return;
    deadPeerReason = reason;
    Q_EMIT q->deadPeerReasonChanged(reason);
}

bool KeepAliveSocketPrivate::isUnbuffered() const
{
    return q->openMode().testFlag(QIODevice::Unbuffered);
}

void KeepAliveSocketPrivate::startConnection()
{
    ++connection;
    deathReported = false;
    evidence.reset();
    healthAtDeath.reset();
    unbufferedError.reset();
    unreadNotified = false;
    setDeadPeerReason(KeepAliveSocket::DeadPeerReason::None);
    transport = NativeTransport::find(q);
    if (QObject *engine = transport.engine()) {
        // Notifiers are created lazily: the engine's ChildAdded hooks later ones.
        engine->installEventFilter(q);
        for (QObject *child : engine->children())
            child->installEventFilter(q);
    }
    QAbstractSocket *inner = transport.socket();
    if (inner && inner != q)
        QObject::connect(inner, &QAbstractSocket::errorOccurred, q,
                         [this](QAbstractSocket::SocketError error) { onTransportError(error); });
    applyOptions();
}

void KeepAliveSocketPrivate::applyOptions()
{
    const qintptr descriptor = transport.descriptor();
    if (descriptor == -1) {
        // Stored for the next connection. A live connection without a native
        // one (an application-provided proxy engine) cannot carry them.
        if (transport.isEmpty() && q->state() == QAbstractSocket::ConnectedState)
            setKeepAliveError(KeepAliveSocket::KeepAliveError::OptionRefused,
                              QStringLiteral("keepalive is unavailable on this connection: no "
                                             "native TCP connection was found behind its proxy"));
        return;
    }
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

bool KeepAliveSocketPrivate::connectionEnded() const
{
    const auto state = q->state();
    return !transport.isEmpty() && transport.descriptor() == -1
            && (state == QAbstractSocket::ConnectedState || state == QAbstractSocket::ClosingState);
}

bool KeepAliveSocketPrivate::inspectNotification(QObject *watched)
{
    // Only the notifiers of this connection's own engine: a child object of
    // the socket (a QProcess, say) has its own, and they are not ours.
    if (!transport.ownsNotifier(watched))
        return false;
    const auto state = q->state();
    // While connecting, a pending error is a failed connect: Qt's business.
    if (state != QAbstractSocket::ConnectedState && state != QAbstractSocket::ClosingState)
        return false;
    auto *notifier = qobject_cast<QSocketNotifier *>(watched);
    const qintptr descriptor = transport.descriptor();
    if (!notifier || descriptor == -1)
        return false;
    const bool read = notifier->type() == QSocketNotifier::Read;
    if (!KeepAlivePlatform::hasPendingError(descriptor)) {
        if (read) {
            if (qtWillStopReading())
                startPauseWatch();
            unreadNotified = isUnbuffered();
        }
        return false;
    }
    captureEvidence(descriptor);
    if (isUnbuffered()) {
        takeUnbufferedDeath(descriptor);
        return false;
    }
    if (!read) {
        // Qt's write path would consume the error and abort(), which drops the
        // bytes already received; the read path reports it instead.
        notifier->setEnabled(false);
        if (QSocketNotifier *reader = transport.notifier(QSocketNotifier::Read))
            letQtReadTheError(reader);
        return true;
    }
    KeepAlivePlatform::clearLastError();
    return false;
}

void KeepAliveSocketPrivate::captureEvidence(qintptr descriptor)
{
    // Qt's read of a failed socket closes the descriptor before
    // errorOccurred() is emitted: TCP_INFO has to be read now.
    if (!evidence)
        evidence = DeathEvidence{KeepAlivePlatform::health(descriptor), stallBridged,
                                 stallTimer->isActive()};
}

void KeepAliveSocketPrivate::letQtReadTheError(QSocketNotifier *reader)
{
    // Qt stops reading in ClosingState and while the read buffer is full;
    // then nobody would ever read the error and the socket would hang.
    if (reader->isEnabled())
        return;
    if (q->state() == QAbstractSocket::ConnectedState && q->readBufferSize() > 0
        && transport.engine()->parent() == q) {
        // Lifting the limit makes Qt read (and keep) what the kernel still
        // holds, then the error; the limit returns on disconnect.
        savedReadBufferSize = q->readBufferSize();
        q->setReadBufferSize(0);
    } else {
        reader->setEnabled(true);
    }
}

bool KeepAliveSocketPrivate::consumePendingDeath()
{
    const qintptr descriptor = transport.descriptor();
    if (descriptor == -1 || !KeepAlivePlatform::hasPendingError(descriptor))
        return false;
    captureEvidence(descriptor);
    if (isUnbuffered()) {
        takeUnbufferedDeath(descriptor);
        return true;
    }
    // Qt's write path (flush(), waitForBytesWritten()) would meet the error
    // first and abort(), dropping what the peer sent before it. Its read path
    // keeps those bytes and reports the error; drive it now, as the event
    // loop would: each activation reads what is there, the last the error.
    const QPointer<KeepAliveSocket> alive(q);
    for (int round = 0; round < 64 && alive && transport.descriptor() != -1; ++round) {
        QSocketNotifier *reader = transport.notifier(QSocketNotifier::Read);
        if (!reader)
            break;
        letQtReadTheError(reader);
        QEvent activation(QEvent::SockAct);
        QCoreApplication::sendEvent(reader, &activation);
    }
    return true;
}

void KeepAliveSocketPrivate::takeUnbufferedDeath(qintptr descriptor)
{
    if (deathReported || unbufferedError)
        return;
    // Unbuffered, Qt holds nothing: what the peer sent is still in the kernel
    // and Qt reads it only when the application does. Taking the error now
    // reports the death within the bound and leaves those bytes readable;
    // Qt's read then ends at end-of-file and finishUnbufferedClose() follows.
    const OsError osError = KeepAlivePlatform::takePendingError(descriptor);
    const QAbstractSocket::SocketError error = qtErrorFor(osError);
    unbufferedError = error;
    reportDeath(error, osError, evidence.value_or(DeathEvidence{}));
    evidence.reset();
    pauseTimer->stop();
    if (q->bytesAvailable() == 0) {
        // Nothing left to read: end the connection as a read would.
        QMetaObject::invokeMethod(
                q,
                [this, current = connection] {
                    if (current != connection || q->state() == QAbstractSocket::UnconnectedState)
                        return;
                    char byte;
                    q->read(&byte, 1);
                },
                Qt::QueuedConnection);
    }
}

void KeepAliveSocketPrivate::finishUnbufferedClose(QAbstractSocket::SocketState before)
{
    // Qt 6.4's Unbuffered read ends the connection silently (no
    // errorOccurred(), stateChanged() or disconnected()); emit what the
    // buffered path emits, after read() has returned.
    const OsError osError = KeepAlivePlatform::lastError();
    const QAbstractSocket::SocketError error = unbufferedError.value_or(q->error());
    QMetaObject::invokeMethod(
            q,
            [this, error, osError, before, current = connection] {
                if (current != connection || q->state() != QAbstractSocket::UnconnectedState)
                    return;
                reportDeath(error, osError, evidence.value_or(DeathEvidence{}));
                q->setSocketError(error);
                Q_EMIT q->errorOccurred(error);
                Q_EMIT q->stateChanged(QAbstractSocket::UnconnectedState);
                Q_EMIT q->readChannelFinished();
                if (before == QAbstractSocket::ConnectedState
                    || before == QAbstractSocket::ClosingState)
                    Q_EMIT q->disconnected();
            },
            Qt::QueuedConnection);
}

bool KeepAliveSocketPrivate::qtWillStopReading() const
{
    // Only where the socket itself owns the engine: a proxied or encrypted
    // socket buffers in its inner socket, which always reads.
    if (transport.engine()->parent() != q)
        return false;
    if (isUnbuffered())
        return unreadNotified;
    const qint64 limit = q->readBufferSize();
    return limit > 0 && q->bytesAvailable() >= limit;
}

std::chrono::milliseconds KeepAliveSocketPrivate::watchTick() const
{
    // A quarter of the tightest bound in force, 50 ms to 1 s.
    const milliseconds userTimeout = options.userTimeout();
    const milliseconds bound =
            userTimeout > 0ms ? userTimeout : std::min(options.detectionBound(), milliseconds(4s));
    return std::clamp(bound / 4, milliseconds(50), milliseconds(1000));
}

void KeepAliveSocketPrivate::startPauseWatch()
{
    if (!pauseTimer->isActive())
        pauseTimer->start(watchTick());
}

void KeepAliveSocketPrivate::watchPause()
{
    const qintptr descriptor = transport.descriptor();
    QSocketNotifier *reader = transport.notifier(QSocketNotifier::Read);
    if (descriptor == -1 || !reader || reader->isEnabled()) {
        pauseTimer->stop(); // gone, or Qt reads again
        return;
    }
    if (!KeepAlivePlatform::hasPendingError(descriptor))
        return;
    pauseTimer->stop();
    captureEvidence(descriptor);
    if (isUnbuffered())
        takeUnbufferedDeath(descriptor);
    else
        letQtReadTheError(reader);
}

void KeepAliveSocketPrivate::onErrorOccurred(QAbstractSocket::SocketError error)
{
    // Taken first: the error of the read that failed, if nothing has
    // overwritten it (classifyDeadPeer() checks it against Qt's error code).
    const OsError osError = KeepAlivePlatform::lastError();
    const auto state = q->state();
    if (state != QAbstractSocket::ConnectedState && state != QAbstractSocket::ClosingState)
        return;
    DeathEvidence seen;
    if (evidence) {
        seen = *evidence;
    } else if (blockingWaits > 0 && transport.descriptor() == -1) {
        // No pre-read look (a blocking waitFor...() bypasses the notifiers),
        // but Qt's engine closed the connection: the wait's own read failed,
        // with the error cleared when the wait began. (A waitFor...() that
        // merely timed out leaves the descriptor open.)
        seen.sendStalled = stallBridged;
        seen.dataOutstanding = dataOutstandingAtBlockingWait;
    } else {
        return;
    }
    evidence.reset();
    reportDeath(error, osError, seen);
}

void KeepAliveSocketPrivate::onTransportError(QAbstractSocket::SocketError error)
{
    // Qt's SOCKS5 and HTTP proxy engines pass their inner socket's resets and
    // closes on through the outer socket's read path (onErrorOccurred() then
    // classifies them), but ignore its SocketTimeoutError while connected:
    // the outer socket would stay connected to a dead proxy for ever.
    if (error != QAbstractSocket::SocketTimeoutError || !evidence)
        return;
    const OsError osError = KeepAlivePlatform::lastError();
    QMetaObject::invokeMethod(
            q,
            [this, osError, current = connection] {
                const auto state = q->state();
                if (current != connection || deathReported || !evidence
                    || (state != QAbstractSocket::ConnectedState
                        && state != QAbstractSocket::ClosingState))
                    return;
                const DeathEvidence seen = *evidence;
                evidence.reset();
                reportDeath(QAbstractSocket::SocketTimeoutError, osError, seen);
                q->setSocketError(QAbstractSocket::SocketTimeoutError);
                Q_EMIT q->errorOccurred(QAbstractSocket::SocketTimeoutError);
                q->disconnectFromHost();
            },
            Qt::QueuedConnection);
}

void KeepAliveSocketPrivate::reportDeath(QAbstractSocket::SocketError error, OsError osError,
                                         const DeathEvidence &seen)
{
    // Once per connection, whatever the handlers do (a waitFor...() in a
    // deadPeer() handler fails again on the closed engine).
    if (deathReported)
        return;
    const KeepAliveSocket::DeadPeerReason reason = classifyDeadPeer(error, osError, seen);
    if (reason == KeepAliveSocket::DeadPeerReason::None)
        return;
    deathReported = true;
    healthAtDeath = seen.health;
    stopStallWatch();
    pauseTimer->stop();
    setDeadPeerReason(reason);
    const QString message = deadPeerMessage(reason, options, seen, q->errorString());
    qCInfo(lcKeepAlive).noquote() << "dead peer" << q->peerAddress().toString() << q->peerPort()
                                  << reason << message << seen.health;
    q->setErrorString(message);
    Q_EMIT q->deadPeer(reason);
}

void KeepAliveSocketPrivate::beginBlockingWait()
{
    KeepAlivePlatform::clearLastError();
    const ConnectionHealth health = KeepAlivePlatform::health(transport.descriptor());
    dataOutstandingAtBlockingWait = q->bytesToWrite() > 0 || health.unackedSegments.value_or(0) > 0
            || health.notSentBytes.value_or(0) > 0;
}

void KeepAliveSocketPrivate::onDisconnected()
{
    evidence.reset();
    stopStallWatch();
    pauseTimer->stop();
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

void KeepAliveSocketPrivate::onClosing()
{
    // The application's own disconnectFromHost(): once Qt's buffer is empty
    // it closes the descriptor and the kernel sends the rest on its own. With
    // the guard gone, a user timeout left on it would cut off a live slow
    // reader that a plain QTcpSocket serves to the end (FACTS: zero window).
    if (q->state() != QAbstractSocket::ClosingState || q->bytesToWrite() > 0)
        return;
    const qintptr descriptor = transport.descriptor();
    if (descriptor != -1 && options.userTimeout() > 0ms)
        KeepAlivePlatform::setUserTimeout(descriptor, 0ms);
    stopStallWatch();
}

void KeepAliveSocketPrivate::stopStallWatch()
{
    stallTimer->stop();
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
    // Never restarted while running: options re-applied again and again
    // must not keep the first tick from ever coming.
    if (!stallTimer->isActive())
        stallTimer->start(
                std::clamp(options.userTimeout() / 4, milliseconds(50), milliseconds(1000)));
}
void KeepAliveSocketPrivate::watchStall()
{
    // Also while closing: Qt still sends what the application wrote.
    const qintptr descriptor = transport.descriptor();
    const ConnectionHealth health = KeepAlivePlatform::health(descriptor);
    if (!health.isValid()) {
        stallTimer->stop();
        return;
    }
    const quint32 notSent = health.notSentBytes.value_or(0);
    const quint32 unacked = health.unackedSegments.value_or(0);
    const milliseconds ackAge = health.sinceLastAckReceived.value_or(milliseconds::max());
    const milliseconds sendAge = health.sinceLastDataSent.value_or(0ms);
    const milliseconds userTimeout = options.userTimeout();
    const milliseconds tick = milliseconds(stallTimer->interval());

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
        // The kernel counts the user timeout from the stall's first probe or
        // retransmission and spaces probes at most the remaining time apart.
        // A deadline kept a little ahead makes it probe often (so silence
        // shows quickly) without ever expiring while we keep ticking; the
        // RTO covers a stall that began before our first look.
        const milliseconds rto = duration_cast<milliseconds>(
                health.retransmissionTimeout.value_or(microseconds(1s)));
        const milliseconds lead = 2 * tick + 1s + rto;
        // A peer already shown to be alive gets the whole user timeout of
        // silence, as an idle one does, but never less than the probe spacing
        // that lead allows (1.3-1.7 s between answers with a 1 s user timeout):
        // a shorter bound would take a live peer's next answer for silence.
        // A busy peer that never answered (the plain data-in-flight death)
        // gets no extension at all.
        const bool peerAnswers =
                answeredNow || (stallBridged && ackAge < std::max(userTimeout, lead) + tick);
        if (peerAnswers) {
            const milliseconds extended = milliseconds(stallSince.elapsed()) + lead;
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
        stallTimer->stop();
}

void KeepAliveSocketPrivate::restoreUserTimeout()
{
    const qintptr descriptor = transport.descriptor();
    if (descriptor != -1 && !KeepAlivePlatform::setUserTimeout(descriptor, options.userTimeout()))
        qCWarning(lcKeepAlive) << "could not restore the user timeout"
                               << options.userTimeout().count() << "ms";
}

KeepAliveSocket::KeepAliveSocket(QObject *parent)
    : QTcpSocket(parent),
      d(std::make_unique<KeepAliveSocketPrivate>(this))
{
    // Connected before any user connection, so these run first.
    connect(this, &QAbstractSocket::connected, this, [this] { d->startConnection(); });
    connect(this, &QAbstractSocket::errorOccurred, this,
            [this](SocketError error) { d->onErrorOccurred(error); });
    connect(this, &QAbstractSocket::disconnected, this, [this] { d->onDisconnected(); });
    connect(this, &QAbstractSocket::stateChanged, this, [this] { d->onClosing(); });
    connect(this, &QIODevice::bytesWritten, this, [this] {
        d->startStallWatch();
        d->onClosing();
    });
    connect(d->stallTimer, &QTimer::timeout, this, [this] { d->watchStall(); });
    connect(d->pauseTimer, &QTimer::timeout, this, [this] { d->watchPause(); });
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
    const qintptr descriptor = d->transport.descriptor();
    if (descriptor != -1)
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
    const qintptr descriptor = d->transport.descriptor();
    if (descriptor != -1)
        return KeepAlivePlatform::health(descriptor);
    return d->healthAtDeath.value_or(ConnectionHealth());
}

bool KeepAliveSocket::setSocketDescriptor(qintptr socketDescriptor, SocketState state,
                                          OpenMode openMode)
{
    if (!QTcpSocket::setSocketDescriptor(socketDescriptor, state, openMode))
        return false;
    d->startConnection();
    return true;
}

bool KeepAliveSocket::flush()
{
    // Already dead, or dying now: report it through Qt's read path first.
    if (d->connectionEnded() || d->consumePendingDeath())
        return false;
    return QTcpSocket::flush();
}

bool KeepAliveSocket::waitForReadyRead(int msecs)
{
    if (d->connectionEnded() || d->consumePendingDeath())
        return false;
    d->beginBlockingWait();
    const QScopedValueRollback<int> depth(d->blockingWaits, d->blockingWaits + 1);
    return QTcpSocket::waitForReadyRead(msecs);
}

bool KeepAliveSocket::waitForBytesWritten(int msecs)
{
    if (d->connectionEnded() || d->consumePendingDeath())
        return false;
    d->beginBlockingWait();
    const QScopedValueRollback<int> depth(d->blockingWaits, d->blockingWaits + 1);
    return QTcpSocket::waitForBytesWritten(msecs);
}

bool KeepAliveSocket::waitForDisconnected(int msecs)
{
    if (d->consumePendingDeath() && state() == UnconnectedState)
        return true;
    if (d->connectionEnded())
        return false;
    d->beginBlockingWait();
    const QScopedValueRollback<int> depth(d->blockingWaits, d->blockingWaits + 1);
    return QTcpSocket::waitForDisconnected(msecs);
}

qint64 KeepAliveSocket::readData(char *data, qint64 maxSize)
{
    if (!d->isUnbuffered())
        return QTcpSocket::readData(data, maxSize);
    d->unreadNotified = false;
    const SocketState before = state();
    KeepAlivePlatform::clearLastError();
    const qint64 read = QTcpSocket::readData(data, maxSize);
    if (read < 0 && before != UnconnectedState && state() == UnconnectedState)
        d->finishUnbufferedClose(before);
    return read;
}

qint64 KeepAliveSocket::writeData(const char *data, qint64 size)
{
    // Nothing can be sent once the connection is dead. Unbuffered writes go
    // straight to the kernel: one into a dead connection would close the
    // descriptor and lose what it still holds.
    if (d->connectionEnded()
        || (d->isUnbuffered() && (d->unbufferedError || d->consumePendingDeath()))) {
        return -1; // errorString() keeps saying why
    }
    return QTcpSocket::writeData(data, size);
}

bool KeepAliveSocket::eventFilter(QObject *watched, QEvent *event)
{
    switch (event->type()) {
    case QEvent::ChildAdded:
        // Qt's socket engine creates its read and write notifiers lazily.
        if (watched == d->transport.engine())
            static_cast<QChildEvent *>(event)->child()->installEventFilter(this);
        break;
    case QEvent::SockAct:
        if (d->inspectNotification(watched))
            return true;
        break;
    default:
        break;
    }
    return QTcpSocket::eventFilter(watched, event);
}
