// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
#include "keepaliveengine_p.h"

#include "coarseclock_p.h"
#include "keepalivelogging_p.h"
#include "keepaliveplatform_p.h"
#include "qtinternals_p.h"

#include <QtCore/QAbstractEventDispatcher>
#include <QtCore/QChildEvent>
#include <QtCore/QDeadlineTimer>
#include <QtCore/QEvent>
#include <QtCore/QMetaMethod>
#include <QtCore/QMetaObject>
#include <QtCore/QPointer>
#include <QtNetwork/QHostAddress>

#include <algorithm>
#include <utility>

using namespace std::chrono;
using namespace std::chrono_literals;

Q_LOGGING_CATEGORY(lcKeepAlive, "qtkeepalive.socket", QtInfoMsg)

using OsError = KeepAlivePlatform::OsError;
using QtKeepAlive::DeadPeerReason;
using QtKeepAlive::KeepAliveError;

namespace {

bool isOpen(QAbstractSocket::SocketState state)
{
    return state == QAbstractSocket::ConnectedState || state == QAbstractSocket::ClosingState;
}

/*!
    The event dispatcher of this thread once a readyRead() that it delivered
    was seen to follow a read notification that passed the inspector (see
    KeepAliveEngine::checkReadActivation()). How Qt delivers notifications
    is a property of Qt and of the dispatcher, not of a connection: later
    connections of the thread need no readyRead() connection for it.
*/
thread_local const QAbstractEventDispatcher *readActivationVerified = nullptr;

bool readActivationVerifiedHere()
{
    const QAbstractEventDispatcher *dispatcher = QAbstractEventDispatcher::instance();
    return dispatcher && dispatcher == readActivationVerified;
}

} // namespace

QString invalidKeepAliveOptionsMessage(const KeepAliveOptions &options)
{
    const QString problem = options.validationError();
    if (problem.isEmpty())
        return problem;
    return QStringLiteral("invalid keepalive options: %1").arg(problem);
}

KeepAliveEngine::SocketSignals::Slots
KeepAliveEngine::SocketSignals::Slots::of(const QMetaObject &metaObject)
{
    const auto index = [&metaObject](const char *slot) {
        const int method = metaObject.indexOfSlot(slot);
        Q_ASSERT_X(method != -1, "KeepAliveEngine", slot);
        return method;
    };
    return {index("_q_connected()"),
            index("_q_errorOccurred(QAbstractSocket::SocketError)"),
            index("_q_stateChanged(QAbstractSocket::SocketState)"),
            index("_q_bytesWritten()"),
            index("_q_readyRead()"),
            index("_q_transportError(QAbstractSocket::SocketError)")};
}

KeepAliveEngine::KeepAliveEngine(QAbstractSocket *socket, const SocketSignals &socketSignals)
    : m_site{socket, {}},
      m_inspector(&m_site, this),
      m_guard(&m_site),
      m_signals(socketSignals)
{
    m_guard.setUserTimeout(m_options.userTimeout());
    // Connected before any user connection, so these run first. A new
    // connection starts at stateChanged(ConnectedState), which Qt emits just
    // before connected(), and ends at stateChanged(UnconnectedState), just
    // before disconnected(): two connections less per socket. A QSslSocket
    // learns its descriptor and endpoints only with connected().
    for (const LifelongConnection &connection : lifelongConnections())
        connectToSlot(socket, connection.signal, connection.slot);
    if (!readActivationVerifiedHere())
        watchReadyRead(true);
}

std::vector<KeepAliveEngine::LifelongConnection> KeepAliveEngine::lifelongConnections() const
{
    const SocketSignals::Slots &indexes = m_signals.slotIndexes();
    std::vector<LifelongConnection> connections{
            {QMetaMethod::fromSignal(&QAbstractSocket::errorOccurred), indexes.errorOccurred},
            {QMetaMethod::fromSignal(&QAbstractSocket::stateChanged), indexes.stateChanged}};
    if (m_startsAtConnected)
        connections.push_back(
                {QMetaMethod::fromSignal(&QAbstractSocket::connected), indexes.connected});
    return connections;
}

void KeepAliveEngine::connectToSlot(const QObject *sender, const QMetaMethod &signal, int slot,
                                    Qt::ConnectionType type)
{
    QMetaObject::connect(sender, signal.methodIndex(), m_site.socket, slot, type);
}

void KeepAliveEngine::disconnectFromSlot(const QObject *sender, const QMetaMethod &signal, int slot)
{
    QMetaObject::disconnect(sender, signal.methodIndex(), m_site.socket, slot);
}

void KeepAliveEngine::watchSignal(bool &connected, bool on, const QMetaMethod &signal, int slot)
{
    if (std::exchange(connected, on) == on)
        return;
    if (on)
        connectToSlot(m_site.socket, signal, slot);
    else
        disconnectFromSlot(m_site.socket, signal, slot);
}

void KeepAliveEngine::watchReadyRead(bool on)
{
    watchSignal(m_readyReadConnected, on, QMetaMethod::fromSignal(&QIODevice::readyRead),
                m_signals.slotIndexes().readyRead);
}

void KeepAliveEngine::watchBytesWritten(bool on)
{
    watchSignal(m_bytesWrittenConnected, on, QMetaMethod::fromSignal(&QIODevice::bytesWritten),
                m_signals.slotIndexes().bytesWritten);
}

void KeepAliveEngine::watchClosingWrites()
{
    // onClosing() again as Qt's buffers empty: the socket's own, and an inner
    // socket's, where the last bytes leave Qt (a QSslSocket's encrypted
    // ones): whichever signal comes last, the user timeout is gone before Qt
    // closes the descriptor.
    watchBytesWritten(true);
    QAbstractSocket *inner = m_site.transport.socket();
    if (inner && inner != m_site.socket)
        connectToSlot(inner, QMetaMethod::fromSignal(&QIODevice::bytesWritten),
                      m_signals.slotIndexes().bytesWritten, Qt::UniqueConnection);
}

bool KeepAliveEngine::writesSeenWithoutSignal() const
{
    return m_site.transport.usesEngine() && m_site.transport.socket() == m_site.socket;
}

void KeepAliveEngine::_q_connected()
{
    startConnection();
}

void KeepAliveEngine::_q_bytesWritten()
{
    noteWritten(coarseNowNs());
    onClosing();
}

void KeepAliveEngine::writeNotified(qint64 nowNs)
{
    noteWritten(nowNs);
}

void KeepAliveEngine::noteWritten(qint64 nowNs)
{
    m_inspector.noteWrite(nowNs);
    // Once a close has let the kernel take over (onClosing()), a watch
    // started again could put a user timeout back before Qt closes the
    // descriptor (a QSslSocket may still write after both its buffers were
    // seen empty).
    if (!isLeftAlone() && !m_releasedForClose)
        m_guard.noteWrite(nowNs);
}

void KeepAliveEngine::writeAccepted()
{
    if (isOpen(m_site.socket->state()))
        noteWritten(coarseNowNs());
}

void KeepAliveEngine::noteWritesSince(qint64 queued)
{
    if (m_site.socket->bytesToWrite() < queued && isOpen(m_site.socket->state())
        && m_site.transport.descriptor() != -1)
        noteWritten(coarseNowNs());
}

KeepAliveEngine::~KeepAliveEngine()
{
    // The socket's destructors still emit (disconnected(), stateChanged()):
    // its private slots must not reach this engine once it is gone.
    for (const LifelongConnection &connection : lifelongConnections())
        disconnectFromSlot(m_site.socket, connection.signal, connection.slot);
    watchReadyRead(false);
    watchBytesWritten(false);
    QAbstractSocket *inner = m_site.transport.socket();
    if (inner && inner != m_site.socket) {
        disconnectFromSlot(inner, QMetaMethod::fromSignal(&QAbstractSocket::errorOccurred),
                           m_signals.slotIndexes().transportError);
        disconnectFromSlot(inner, QMetaMethod::fromSignal(&QIODevice::bytesWritten),
                           m_signals.slotIndexes().bytesWritten);
    }
    releaseRetained();
}

const KeepAliveEngine::Rare &KeepAliveEngine::known() const
{
    static const Rare none;
    return m_rare ? *m_rare : none;
}

KeepAliveEngine::Rare &KeepAliveEngine::rare()
{
    if (!m_rare)
        m_rare = std::make_unique<Rare>();
    return *m_rare;
}

void KeepAliveEngine::socketEvent(QEvent *event)
{
    switch (event->type()) {
    case QEvent::ThreadChange: // sent in the old thread, before the move
        m_guard.threadChanging();
        if (m_watcher)
            m_watcher->threadChanging();
        break;
    case QEvent::ChildRemoved:
        m_site.transport.engineRemoved(static_cast<QChildEvent *>(event)->child());
        break;
    default:
        break;
    }
}

void KeepAliveEngine::readNotified()
{
    if (m_watcher)
        m_watcher->readActivity();
}

void KeepAliveEngine::unbufferedDeathFound(qintptr descriptor)
{
    takeUnbufferedDeath(descriptor);
}

void KeepAliveEngine::releaseRetained()
{
    if (m_rare)
        KeepAlivePlatform::release(std::exchange(m_rare->retained, -1));
}

bool KeepAliveEngine::isUnbuffered() const
{
    return m_site.socket->openMode().testFlag(QIODevice::Unbuffered);
}

bool KeepAliveEngine::setOptions(const KeepAliveOptions &options)
{
    const QString problem = invalidKeepAliveOptionsMessage(options);
    if (!problem.isEmpty()) {
        setError(KeepAliveError::InvalidOptions, problem);
        return false;
    }
    const bool changed = options != m_options;
    m_options = options;
    m_guard.setUserTimeout(options.userTimeout());
    // A connection that is not TCP keeps its error; the options wait for the next one.
    if (!isLeftAlone())
        setError(KeepAliveError::NoError, QString());
    else if (m_error != KeepAliveError::UnsupportedSocket)
        setError(KeepAliveError::UnsupportedSocket, *known().notTcp);
    if (changed)
        notify(&SocketSignals::optionsChanged, options);
    if (!isLeftAlone())
        applyOptions();
    return m_error == KeepAliveError::NoError;
}

void KeepAliveEngine::setError(KeepAliveError error, const QString &message)
{
    const bool changed = error != m_error;
    m_error = error;
    if (m_rare || !message.isEmpty())
        rare().errorString = message;
    if (changed)
        notify(&SocketSignals::errorChanged, error);
    if (error != KeepAliveError::NoError) {
        qCWarning(lcKeepAlive).noquote() << message;
        notify(&SocketSignals::errorOccurred, error);
    }
}

EffectiveKeepAliveOptions KeepAliveEngine::effectiveOptions() const
{
    const qintptr descriptor = m_site.transport.descriptor();
    if (descriptor != -1)
        return KeepAlivePlatform::readBack(descriptor);
    return {};
}

ConnectionHealth KeepAliveEngine::health() const
{
    const qintptr descriptor = m_site.transport.descriptor();
    if (descriptor != -1)
        return KeepAlivePlatform::health(descriptor);
    return known().healthAtDeath.value_or(ConnectionHealth());
}

void KeepAliveEngine::adopted(qintptr descriptor, bool accepted)
{
    m_adopting = false;
    const QString notTcp = KeepAlivePlatform::whyNotTcp(descriptor);
    const QString message =
            notTcp.isEmpty() ? notTcp : QStringLiteral("keepalive is not applied: %1").arg(notTcp);
    if (accepted)
        startConnection(message);
    if (!message.isEmpty())
        setError(KeepAliveError::UnsupportedSocket, message);
}

void KeepAliveEngine::startConnection(const QString &notTcp)
{
    ++m_connection;
    m_deathReported = false;
    m_releasedForClose = false;
    forget(&Rare::healthAtDeath);
    forget(&Rare::unbufferedError);
    m_inspector.reset();
    if (m_reason != DeadPeerReason::None) {
        m_reason = DeadPeerReason::None;
        notify(&SocketSignals::deadPeerReasonChanged, m_reason);
    }
    releaseRetained();
    if (notTcp.isEmpty())
        forget(&Rare::notTcp);
    else
        rare().notTcp = notTcp;
    if (isLeftAlone()) {
        // Left alone: without a transport nothing (options, inspector,
        // guard) touches the descriptor, and reportDeath() reports nothing.
        m_site.transport = NativeTransport();
        m_readActivationChecked = false;
        watchReadyRead(true);
        watchBytesWritten(false);
        return;
    }
    m_site.transport = NativeTransport::find(m_site.socket);
    if (m_site.transport.usesEngine())
        // A socket class of this library reports its writes (writeData());
        // its own connection then needs no ChildAdded hook.
        m_inspector.attach(m_site.transport.socket() == m_site.socket);
    else
        rare().retained = KeepAlivePlatform::retain(m_site.transport.descriptor());
    // readyRead() has work only in the public-API-only mode and for the
    // check that Qt's read notifications reach the inspector, which one
    // connection per thread makes (none where the shared hook has already
    // delivered one).
    m_readActivationChecked = m_site.transport.usesEngine()
            && (readActivationVerifiedHere() || m_inspector.sharedHookDeliversHere());
    watchReadyRead(!m_readActivationChecked);
    watchBytesWritten(!writesSeenWithoutSignal());
    QAbstractSocket *inner = m_site.transport.socket();
    if (inner && inner != m_site.socket)
        connectToSlot(inner, QMetaMethod::fromSignal(&QAbstractSocket::errorOccurred),
                      m_signals.slotIndexes().transportError, Qt::UniqueConnection);
    applyOptions();
}

void KeepAliveEngine::applyOptions()
{
    // A quarter of the tightest bound in force, 50 ms to 1 s.
    const milliseconds userTimeout = m_options.userTimeout();
    const milliseconds bound = userTimeout > 0ms
            ? userTimeout
            : std::min(m_options.detectionBound(), milliseconds(4s));
    m_inspector.setWatchTick(std::clamp(bound / 4, milliseconds(50), milliseconds(1000)));
    // The shortest silence that can precede a timeout death: idle + interval
    // (keepalive's first probe, never earlier, also with a user timeout) or
    // the user timeout. Half of it, at most 1 s, leaves room for a late event loop.
    milliseconds shortestDeath = userTimeout > 0ms ? userTimeout : milliseconds::max();
    if (m_options.isEnabled())
        shortestDeath = std::min(shortestDeath, m_options.idle() + m_options.interval());
    // Keepalive ends a connection only after its whole probe sequence
    // (idle + probes x interval, the platform's count where it is fixed, as
    // Wine's 9): a death sooner after the last write is the retransmissions'.
    m_inspector.setKeepAliveSilence(
            m_options.isEnabled() ? std::optional<milliseconds>(m_options.idleDetectionBound())
                                  : std::nullopt);
    m_inspector.setQuietGap(std::clamp(shortestDeath / 2, milliseconds(1), milliseconds(1000)));
    const qintptr descriptor = m_site.transport.descriptor();
    if (descriptor == -1) {
        // Stored for the next connection. A live connection without a native
        // one (an application-provided proxy engine) cannot carry them.
        if (m_site.transport.isEmpty() && m_site.socket->state() == QAbstractSocket::ConnectedState)
            setError(KeepAliveError::OptionRefused,
                     QtInternals::trusted()
                             ? QStringLiteral("keepalive is unavailable on this connection: no "
                                              "native TCP connection was found behind its proxy")
                             : QStringLiteral("keepalive is unavailable on this connection: its "
                                              "socketDescriptor() is not its TCP connection (a "
                                              "proxy's), and the library uses Qt's public API "
                                              "only (see qtkeepalive.qtinternals)"));
        return;
    }
    const KeepAlivePlatform::ApplyResult result = KeepAlivePlatform::apply(descriptor, m_options);
    if (result.refused)
        setError(KeepAliveError::OptionRefused,
                 QStringLiteral("the kernel refused keepalive options: %1").arg(result.message));
    else
        setError(KeepAliveError::NoError, QString());
    const EffectiveKeepAliveOptions effective = KeepAlivePlatform::readBack(descriptor);
    qCDebug(lcKeepAlive) << "applied" << m_options << "kernel holds" << effective;
    if (AnnouncedOptions(effective) != m_lastEffective) {
        m_lastEffective = AnnouncedOptions(effective);
        notify(&SocketSignals::effectiveOptionsChanged, effective);
    }
    m_guard.optionsApplied();
}

bool KeepAliveEngine::connectionEnded() const
{
    // On every write: the cheap tests first.
    return isOpen(m_site.socket->state()) && !m_site.transport.isEmpty()
            && m_site.transport.descriptor() == -1;
}

bool KeepAliveEngine::reportDeathFirst()
{
    if (connectionEnded())
        return true;
    return m_inspector.reportPendingError();
}

void KeepAliveEngine::_q_readyRead()
{
    if (!m_site.transport.usesEngine()) {
        readNotified();
        // Public-API-only mode: a full read buffer stops Qt's reading, and no
        // notification shows a death until the application reads.
        m_inspector.readyReadWithoutEngine();
        // Data, then an error behind it (a reset after the peer's last
        // bytes) with our own data queued: nothing keeps Qt's write
        // notifier from meeting it first, and abort() would drop the bytes.
        // Qt's read path meets it before the next notification instead
        // (posted events come first).
        if (hasQueuedWrites(m_site.socket)
            && KeepAlivePlatform::hasPendingError(m_site.transport.descriptor()))
            QMetaObject::invokeMethod(
                    m_site.socket,
                    [this, current = m_connection] {
                        if (current == m_connection && !m_deathReported)
                            m_inspector.reportPendingError();
                    },
                    Qt::QueuedConnection);
        return;
    }
    checkReadActivation();
}

void KeepAliveEngine::checkReadActivation()
{
    // The first readyRead() of a connection that Qt's event loop delivered
    // comes from a read notification the inspector has seen.
    if (m_readActivationChecked || !m_site.transport.usesEngine() || m_blockingWaits > 0
        || isUnbuffered() || !QAbstractEventDispatcher::instance(m_site.socket->thread()))
        return;
    m_readActivationChecked = true;
    // Nothing more to do on readyRead() for this connection: a connection
    // less per socket (the handle is dropped too, or it keeps it allocated).
    watchReadyRead(false);
    m_inspector.verifyReadActivation();
    if (QtInternals::trusted())
        readActivationVerified = QAbstractEventDispatcher::instance();
}

void KeepAliveEngine::beginBlockingWait()
{
    ++m_blockingWaits;
    beforeBlockingCall();
}

void KeepAliveEngine::beforeBlockingCall()
{
    KeepAlivePlatform::clearLastError();
    const ConnectionHealth health = KeepAlivePlatform::health(m_site.transport.descriptor());
    m_dataOutstandingAtBlockingWait = hasQueuedWrites(m_site.socket)
            || health.unackedSegments.value_or(0) > 0 || health.notSentBytes.value_or(0) > 0;
}

std::optional<int> KeepAliveEngine::awaitActivity(BlockingWait kind, int msecs)
{
    const QDeadlineTimer deadline(msecs);
    const bool waitActsOnTransport = m_site.transport.carriesWaitsOf(m_site.socket);
    while (m_site.socket->state() == QAbstractSocket::ConnectedState && waitActsOnTransport) {
        const qintptr descriptor = m_site.transport.descriptor();
        const bool writing = hasQueuedWrites(m_site.socket);
        if (descriptor == -1 || (kind == BlockingWait::BytesWritten && !writing))
            break;
        // As Qt's waitForBytesWritten(): no reading into a full read buffer.
        const qint64 limit = m_site.socket->readBufferSize();
        const bool reading = kind != BlockingWait::BytesWritten || limit == 0
                || m_site.socket->bytesAvailable() < limit;
        const KeepAlivePlatform::Readiness ready = KeepAlivePlatform::awaitReadiness(
                descriptor, reading, writing, milliseconds(deadline.remainingTime()));
        if (!ready.readable && !ready.writable)
            break; // timed out (or poll() failed): Qt's own wait decides
        if (ready.readable && KeepAlivePlatform::hasPendingError(descriptor)) {
            // Waiting for data, a QTcpSocket delivers what the peer sent
            // first and meets the error at the next wait; Unbuffered, the
            // death is taken from the kernel at once (takeUnbufferedDeath()).
            if ((kind != BlockingWait::ReadyRead || isUnbuffered()) && reportDeathFirst())
                return std::nullopt;
            m_inspector.captureEvidence(descriptor);
            m_inspector.letQtReadTheError(m_site.transport.notifier(QSocketNotifier::Read));
            break;
        }
        if (kind != BlockingWait::ReadyRead || ready.readable)
            break;
        // Waiting for data with data of our own queued: Qt's wait would
        // write it and wait on unwatched. (QAbstractSocket::flush(), not
        // KeepAliveSocket's: the connection showed no error.)
        beforeBlockingCall();
        if (!m_site.socket->flush())
            break;
    }
    beforeBlockingCall();
    return int(deadline.remainingTime());
}

void KeepAliveEngine::_q_errorOccurred(QAbstractSocket::SocketError error)
{
    // Taken first: the error of the read that failed, if nothing has
    // overwritten it (classifyDeadPeer() checks it against Qt's error code).
    const OsError osError = KeepAlivePlatform::lastError();
    if (!isOpen(m_site.socket->state()))
        return;
    if (!m_site.transport.usesEngine()) {
        reportDeathAfterClose(error);
        return;
    }
    DeathEvidence seen;
    if (std::optional<DeathEvidence> evidence = m_inspector.takeEvidence()) {
        seen = *evidence;
    } else if (m_blockingWaits == 0 && m_inspector.wentUnlooked()
               && m_site.transport.descriptor() == -1) {
        // Qt's read (or write) on a notification that did not look failed
        // and closed the descriptor: the errno it left, cleared just before,
        // tells what happened.
        seen = unlookedEvidence(osError);
        if (osError != OsError::None && !osErrorMatchesQtError(osError, error))
            QtInternals::broken(QtInternals::Assumption::ErrnoSurvivesRead,
                                QStringLiteral("Qt reported %1 after a read that left errno %2")
                                        .arg(int(error))
                                        .arg(int(osError)));
    } else if (m_blockingWaits > 0 && m_site.transport.descriptor() == -1) {
        // No pre-read look (a blocking waitFor...() bypasses the notifiers),
        // but Qt's engine closed the connection: the wait's own read failed,
        // with the error cleared when the wait began. (A waitFor...() that
        // merely timed out leaves the descriptor open.)
        seen.sendStalled = m_guard.isBridged();
        seen.dataOutstanding = m_dataOutstandingAtBlockingWait;
    } else {
        return;
    }
    reportDeath(error, osError, seen);
}

void KeepAliveEngine::_q_transportError(QAbstractSocket::SocketError error)
{
    // Qt's SOCKS5 and HTTP proxy engines pass their inner socket's resets and
    // closes on through the outer socket's read path (_q_errorOccurred() then
    // classifies them), but ignore its SocketTimeoutError while connected:
    // the outer socket would stay connected to a dead proxy for ever.
    if (error != QAbstractSocket::SocketTimeoutError)
        return;
    const OsError osError = KeepAlivePlatform::lastError();
    if (!m_inspector.hasEvidence()) {
        if (!m_inspector.wentUnlooked() || m_site.transport.descriptor() != -1)
            return;
        rare().seenUnlooked = unlookedEvidence(osError);
    }
    QMetaObject::invokeMethod(
            m_site.socket,
            [this, osError, current = m_connection] {
                if (current != m_connection || m_deathReported
                    || !(m_inspector.hasEvidence() || known().seenUnlooked)
                    || !isOpen(m_site.socket->state()))
                    return;
                const DeathEvidence seen = m_inspector.hasEvidence() ? *m_inspector.takeEvidence()
                                                                     : *take(&Rare::seenUnlooked);
                reportDeath(QAbstractSocket::SocketTimeoutError, osError, seen);
                Q_EMIT m_site.socket->errorOccurred(QAbstractSocket::SocketTimeoutError);
                closeDeadTransport();
            },
            Qt::QueuedConnection);
}

void KeepAliveEngine::closeDeadTransport()
{
    // A QSslSocket would send close_notify into the dead proxy connection,
    // fail, and report that as a second error over the death's. Its own
    // connection (the plain socket whose proxy engine holds the dead one) is
    // closed instead: QSslSocket then ends as at the peer's FIN, with what
    // it decrypted still readable. (In the public-API-only mode a proxied
    // connection's death is not seen at all, so nothing is ended here.)
    if (QAbstractSocket *own = tlsOwnSocket(m_site.socket))
        own->disconnectFromHost();
    else
        m_site.socket->disconnectFromHost();
}

void KeepAliveEngine::reportDeathAfterClose(QAbstractSocket::SocketError error)
{
    // Qt has closed its descriptor; the second handle still shows the
    // kernel's view (state, probes, retransmissions) of the connection.
    DeathEvidence seen;
    const qintptr retained = known().retained;
    seen.health = KeepAlivePlatform::health(retained);
    // An error that left the connection open is no death: a waitFor...()
    // that timed out, or (a QSslSocket) a TLS error. Where the kernel's view
    // has no state (no second handle, no TCP_INFO), Qt's closed descriptor
    // tells.
    using State = ConnectionHealth::TcpState;
    const bool open = seen.health.state == State::Unknown ? m_site.transport.descriptor() != -1
                                                          : seen.health.state == State::Established
                    && !KeepAlivePlatform::hasPendingError(retained);
    if (open)
        return;
    const OsError pending =
            retained != -1 ? KeepAlivePlatform::takePendingError(retained) : OsError::None;
    releaseRetained();
    seen.sendStalled = m_guard.isBridged();
    seen.dataOutstanding = m_guard.isWatching() || hasQueuedWrites(m_site.socket)
            || m_dataOutstandingAtBlockingWait;
    seen.keepAliveOff = !m_options.isEnabled();
    const OsError osError = osErrorAfterClose(error, seen.health, pending);
    if (osError == OsError::None)
        return;
    // errorString() and error() say what the kernel showed, not a code Qt's
    // write path left undecided.
    reportDeath(osErrorMatchesQtError(osError, error) ? error : qtErrorFor(osError), osError, seen,
                OsErrorSource::SeenBeforeRead);
}

DeathEvidence KeepAliveEngine::unlookedEvidence(OsError osError) const
{
    qCDebug(lcKeepAlive) << "a death met without a look, classified by its errno" << int(osError);
    DeathEvidence seen;
    // Not a guess: every error that ends a read also ends the kernel's
    // connection (tcp_done(): TCP_CLOSE); the rest of TCP_INFO is gone with
    // the descriptor.
    if (osError != OsError::None)
        seen.health.state = ConnectionHealth::TcpState::Closed;
    seen.sendStalled = m_guard.isBridged();
    // The stall watch runs while sent data is outstanding, with or without a
    // user timeout: a timeout death with data outstanding is a retransmission
    // death (keepalive never probes then).
    seen.dataOutstanding = m_guard.isWatching() || hasQueuedWrites(m_site.socket);
    seen.keepAliveOff = !m_options.isEnabled();
    return seen;
}

void KeepAliveEngine::reportDeath(QAbstractSocket::SocketError error, OsError osError,
                                  const DeathEvidence &seen, std::optional<OsErrorSource> source)
{
    // Once per connection, whatever the handlers do (a waitFor...() in a
    // deadPeer() handler fails again on the closed engine). Never for a
    // connection that is not TCP: a listener's or a UDP socket's read errors
    // are no dead peer.
    if (m_deathReported || isLeftAlone())
        return;
    const DeadPeerReason reason = source ? classifyDeadPeer(error, osError, seen, *source)
                                         : classifyDeadPeer(error, osError, seen);
    if (reason == DeadPeerReason::None)
        return;
    announceDeath(reason, error,
                  deadPeerMessage(reason, m_options, seen, m_site.socket->errorString()),
                  seen.health);
}

void KeepAliveEngine::expectHeartbeatDeath(const QString &message)
{
    rare().heartbeatDeath =
            HeartbeatDeath{message, KeepAlivePlatform::health(m_site.transport.descriptor())};
}

bool KeepAliveEngine::reportHeartbeatDeath()
{
    const std::optional<HeartbeatDeath> death = take(&Rare::heartbeatDeath);
    if (!death || !isOpen(m_site.socket->state()))
        return false;
    announceHeartbeatDeath(*death);
    return true;
}

void KeepAliveEngine::announceHeartbeatDeath(const HeartbeatDeath &death)
{
    if (m_deathReported || isLeftAlone())
        return;
    // A handler may delete the socket, and this engine with it.
    const QPointer<QAbstractSocket> alive(m_site.socket);
    announceDeath(DeadPeerReason::HeartbeatTimeout, QAbstractSocket::SocketTimeoutError,
                  death.message, death.health);
    if (alive)
        Q_EMIT m_site.socket->errorOccurred(QAbstractSocket::SocketTimeoutError);
}

void KeepAliveEngine::readBeforeClose()
{
    const qintptr descriptor = m_site.transport.descriptor();
    if (m_site.socket->state() != QAbstractSocket::ConnectedState || descriptor == -1
        || m_site.transport.socket() != m_site.socket || isUnbuffered())
        return;
    m_inspector.liftReadLimit();
    // Qt's own blocking read, once: it takes all the kernel holds. Only when
    // something is there: with nothing, it would time out and report that.
    if (KeepAlivePlatform::awaitReadiness(descriptor, true, false, 0ms).readable)
        runQtReadPath(m_site.socket);
}

void KeepAliveEngine::announceDeath(DeadPeerReason reason, QAbstractSocket::SocketError error,
                                    const QString &message, const ConnectionHealth &health)
{
    m_deathReported = true;
    rare().healthAtDeath = health;
    m_guard.stop();
    m_reason = reason;
    notify(&SocketSignals::deadPeerReasonChanged, reason);
    qCInfo(lcKeepAlive).noquote() << "dead peer" << m_site.socket->peerAddress().toString()
                                  << m_site.socket->peerPort() << reason << message << health;
    m_signals.setError(m_site.socket, error, message);
    if (m_watcher) {
        // A handler of what the watcher emits (a server's clientLost()) may delete the socket.
        const QPointer<QAbstractSocket> alive(m_site.socket);
        m_watcher->deadPeer(reason);
        if (!alive)
            return;
    }
    notify(&SocketSignals::deadPeer, reason);
}

void KeepAliveEngine::takeUnbufferedDeath(qintptr descriptor)
{
    if (m_deathReported || known().unbufferedError)
        return;
    // Unbuffered, Qt holds nothing: what the peer sent is still in the kernel
    // and Qt reads it only when the application does. Taking the error now
    // reports the death within the bound and leaves those bytes readable;
    // Qt's read then ends at end-of-file and afterUnbufferedRead() follows.
    const OsError osError = KeepAlivePlatform::takePendingError(descriptor);
    const QAbstractSocket::SocketError error = qtErrorFor(osError);
    rare().unbufferedError = error;
    reportDeath(error, osError, m_inspector.takeEvidence().value_or(DeathEvidence{}));
    if (m_site.socket->bytesAvailable() > 0)
        return;
    // Nothing left to read: end the connection as a read would.
    QMetaObject::invokeMethod(
            m_site.socket,
            [this, current = m_connection] {
                if (current != m_connection
                    || m_site.socket->state() == QAbstractSocket::UnconnectedState)
                    return;
                char byte;
                m_site.socket->read(&byte, 1);
            },
            Qt::QueuedConnection);
}

void KeepAliveEngine::beforeUnbufferedRead()
{
    m_inspector.applicationRead();
    KeepAlivePlatform::clearLastError();
}

void KeepAliveEngine::afterUnbufferedRead(qint64 result, QAbstractSocket::SocketState before)
{
    if (result >= 0 || !isOpen(before)
        || m_site.socket->state() != QAbstractSocket::UnconnectedState)
        return;
    // Qt 6.4's Unbuffered read ends the connection silently (no
    // errorOccurred(), stateChanged() or disconnected()); emit what the
    // buffered path emits, once read() has returned.
    const OsError osError = KeepAlivePlatform::lastError();
    const QAbstractSocket::SocketError error =
            known().unbufferedError.value_or(m_site.socket->error());
    QMetaObject::invokeMethod(
            m_site.socket,
            [this, error, osError, current = m_connection] {
                if (current != m_connection
                    || m_site.socket->state() != QAbstractSocket::UnconnectedState)
                    return;
                reportDeath(error, osError, m_inspector.takeEvidence().value_or(DeathEvidence{}));
                m_signals.setError(m_site.socket, error, m_site.socket->errorString());
                Q_EMIT m_site.socket->errorOccurred(error);
                Q_EMIT m_site.socket->stateChanged(QAbstractSocket::UnconnectedState);
                Q_EMIT m_site.socket->readChannelFinished();
                Q_EMIT m_site.socket->disconnected();
            },
            Qt::QueuedConnection);
}

bool KeepAliveEngine::refuseUnbufferedWrite()
{
    // Unbuffered writes go straight to the kernel: one into a dead connection
    // would close the descriptor and lose what it still holds.
    return isUnbuffered() && (known().unbufferedError || m_inspector.reportPendingError());
}

void KeepAliveEngine::onConnectionEnded()
{
    m_site.transport.ended();
    forget(&Rare::notTcp);
    forget(&Rare::heartbeatDeath);
    releaseRetained();
    m_inspector.reset();
    m_guard.stop();
    // Without a connection nothing is known (see effectiveOptions()).
    if (!m_lastEffective.isEmpty()) {
        m_lastEffective = {};
        notify(&SocketSignals::effectiveOptionsChanged, EffectiveKeepAliveOptions());
    }
    // The watcher (a server's hold on its client) lets go of the connection.
    // It stays allocated until replaced or until the engine goes: this may
    // run inside its own call (a clientLost() handler's abort()).
    if (m_watcher)
        m_watcher->connectionEnded();
}

void KeepAliveEngine::_q_stateChanged(QAbstractSocket::SocketState state)
{
    // setSocketDescriptor() announces its state too; adopted() starts that connection.
    if (state == QAbstractSocket::ConnectedState && !m_adopting && !m_startsAtConnected) {
        startConnection();
        return;
    }
    // A heartbeatTimeout() handler that closes the connection itself: the
    // death comes first, as it would after the handler.
    if (state != QAbstractSocket::ConnectedState) {
        if (const std::optional<HeartbeatDeath> death = take(&Rare::heartbeatDeath)) {
            announceHeartbeatDeath(*death);
        } else if (const ForeignHeartbeatDeath *foreign =
                           ForeignHeartbeatDeath::claim(m_site.socket)) {
            announceHeartbeatDeath(
                    {foreign->m_message, KeepAlivePlatform::health(m_site.transport.descriptor())});
        }
    }
    if (state == QAbstractSocket::ClosingState && hasQueuedWrites(m_site.socket))
        watchClosingWrites();
    onClosing();
    if (state == QAbstractSocket::UnconnectedState)
        onConnectionEnded();
}

namespace {
//! The innermost ForeignHeartbeatDeath in force in this thread.
thread_local KeepAliveEngine::ForeignHeartbeatDeath *foreignHeartbeatDeath = nullptr;
} // namespace

KeepAliveEngine::ForeignHeartbeatDeath::ForeignHeartbeatDeath(const Endpoints &endpoints,
                                                              const QString &message)
    : m_endpoints(endpoints),
      m_message(message),
      m_outer(foreignHeartbeatDeath)
{
    foreignHeartbeatDeath = this;
}

KeepAliveEngine::ForeignHeartbeatDeath::~ForeignHeartbeatDeath()
{
    foreignHeartbeatDeath = m_outer;
}

KeepAliveEngine::ForeignHeartbeatDeath *
KeepAliveEngine::ForeignHeartbeatDeath::claim(const QAbstractSocket *socket)
{
    for (ForeignHeartbeatDeath *death = foreignHeartbeatDeath; death; death = death->m_outer) {
        const Endpoints &ends = death->m_endpoints;
        if (death->m_taken || ends.localPort != socket->localPort()
            || ends.peerPort != socket->peerPort() || ends.localAddress != socket->localAddress()
            || ends.peerAddress != socket->peerAddress())
            continue;
        death->m_taken = true;
        return death;
    }
    return nullptr;
}

void KeepAliveEngine::onClosing()
{
    // Qt has closed its descriptor: the second handle must not keep the
    // connection open (no FIN is sent while it is).
    if (m_site.socket->state() == QAbstractSocket::UnconnectedState)
        releaseRetained();
    // The application's own disconnectFromHost(): once Qt's buffer is empty
    // it closes the descriptor and the kernel sends the rest on its own. With
    // the guard gone, a user timeout left on it would cut off a live slow
    // reader that a plain QTcpSocket serves to the end (the user timeout also
    // bounds a zero window that the peer keeps answering).
    if (m_site.socket->state() != QAbstractSocket::ClosingState || hasQueuedWrites(m_site.socket))
        return;
    const qintptr descriptor = m_site.transport.descriptor();
    if (descriptor != -1 && m_options.userTimeout() > 0ms)
        KeepAlivePlatform::setUserTimeout(descriptor, 0ms);
    m_guard.stop();
    m_releasedForClose = true;
}
