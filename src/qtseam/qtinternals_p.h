// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
#pragma once

// Internal: the assumptions about Qt's implementation that the library's
// precise mode rests on, checked where they are used, and the switch to the
// public-API-only mode when one fails. Not installed.

#include <QtCore/QLoggingCategory>
#include <QtCore/QPointer>
#include <QtCore/QSocketNotifier>
#include <QtCore/QString>

QT_BEGIN_NAMESPACE
    class QTcpServer;
QT_END_NAMESPACE

Q_DECLARE_LOGGING_CATEGORY(lcQtInternals)

/*!
    Every assumption about how Qt implements its sockets (qtbase
    src/network/socket/, unchanged from Qt 6.4 to 6.12-dev). Each has a
    canary in tests/auto/qtseam/qtinternals that names it and the Qt version when it
    no longer holds.

    When a check made at run time fails, the library logs one warning per
    assumption (category \c qtkeepalive.qtinternals) and every connection
    started afterwards runs in the public-API-only mode: options go to
    socketDescriptor() once it is shown to be this connection's (its ends
    match localAddress() / peerAddress()), the notifiers are left alone, and
    a death is classified after the fact from Qt's error code and the
    kernel's view through a second handle (KeepAlivePlatform::retain()). What
    that mode loses is listed in the README ("Platform support").
*/
namespace QtInternals {

enum class Assumption {
    //! A connected QAbstractSocket has its engine as a child QObject that
    //! inherits "QNativeSocketEngine" (direct connections).
    NativeEngineChild,
    //! The engine's read and write QSocketNotifiers are its children.
    NotifierChildren,
    //! The read notifier receives QEvent::SockAct for each readiness, through
    //! Qt's event notification callback (QInternal::EventNotifyCallback,
    //! the inspectors' shared hook) and event filters installed on it.
    SockActDelivery,
    //! A QEvent::SockAct sent to the read notifier makes Qt read the socket.
    SyntheticSockAct,
    //! Windows: the end of a connection (FD_CLOSE: a FIN, a reset, a timeout)
    //! reaches the read notifier as QEvent::SockClose, through event filters,
    //! and Qt reads the socket on it.
    SockCloseDelivery,
    //! The errno of Qt's failing read is still set when errorOccurred() is
    //! emitted, and matches the Qt error code (POSIX).
    ErrnoSurvivesRead,
    //! A SOCKS5 or HTTP proxy engine (a child of the socket) keeps the real
    //! connection in its own child QTcpSocket.
    ProxyInnerSocket,
    //! A QSslSocket keeps its TCP connection in a child QTcpSocket.
    SslPlainSocket,
    //! A listening QTcpServer's engine is its child, and the engine's read
    //! QSocketNotifier (enabled while accepting) is the engine's child.
    ServerAcceptNotifier,
};

/*!
    The read notifier through which a listening \a server accepts: disabled
    by pauseAccepting() and while the pending queue is full, enabled again
    by resumeAccepting() and QTcpServer::nextPendingConnection(). Null when
    the server is not listening, or (with a warning, see broken()) when Qt
    no longer keeps it where ServerAcceptNotifier says. Only while trusted().
*/
QSocketNotifier *acceptNotifier(const QTcpServer *server);

/*!
    Whether a server accepts, as pauseAccepting() or a full pending queue
    left it: QTcpServer's nextPendingConnection() accepts again, which is
    only right when it hands a connection out.
*/
class AcceptState
{
public:
    explicit AcceptState(const QTcpServer *server)
        : m_server(server),
          m_notifier(acceptNotifier(server)),
          m_enabled(!m_notifier || m_notifier->isEnabled())
    {
    }
    void restore() const
    {
        if (!m_enabled && m_notifier && acceptNotifier(m_server) == m_notifier)
            m_notifier->setEnabled(false);
    }

private:
    const QTcpServer *const m_server;
    const QPointer<QSocketNotifier> m_notifier;
    const bool m_enabled;
};

//! A short name for \a assumption, as the warning and the canaries print it.
QString describe(Assumption assumption);

/*!
    True while the library may rely on Qt's internals: no check has failed
    and the testing switch \c QTKEEPALIVE_TESTING_PUBLIC_API_ONLY=1 (read once
    per process) is not set.
*/
bool trusted();

/*!
    Records that \a assumption does not hold on this Qt: one warning naming
    it, the Qt version and \a detail; trusted() is false from now on.
*/
void broken(Assumption assumption, const QString &detail);

} // namespace QtInternals
