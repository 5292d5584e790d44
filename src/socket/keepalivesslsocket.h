// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
#pragma once

#include "connectionhealth.h"
#include "effectivekeepaliveoptions.h"
#include "keepaliveoptions.h"
#include "qtkeepalive.h"
#include "qtkeepalive_global.h"

#include <QtNetwork/qtnetworkglobal.h>

#include <memory>

#if QT_CONFIG(ssl)

#  include <QtNetwork/QSslSocket>

class KeepAliveEngine;

/*!
    \class KeepAliveSslSocket
    \brief A QSslSocket that notices a dead peer within a bound you choose
    and says why: KeepAliveSocket for TLS.

    Use it anywhere a QSslSocket is used (connectToHostEncrypted(),
    startClientEncryption(), a server's startServerEncryption()). The
    keepalive options apply to the TCP connection under TLS, as soon as it
    is up (before the handshake), and everything KeepAliveSocket documents
    holds here, through the same engine: options read back and refusals
    reported, deadPeer() exactly once before disconnected() with a reset
    told from an orderly close, the bound with data in flight, the
    slow-reader guard, connectionHealth() and its snapshot at the death,
    blocking waits (also in a thread without an event loop), proxies,
    moveToThread(). Bytes decrypted before a death stay readable in the
    deadPeer() and disconnected() handlers; Qt decrypts what the kernel
    delivered before the error when the connection fails.

    What TLS itself reports keeps Qt's meaning and is never a dead peer:
    sslErrors(), a failed handshake (errorOccurred() with
    SslHandshakeFailedError and Qt's errorString()), and the peer's
    close_notify, an orderly TLS close (RemoteHostClosedError, "The TLS/SSL
    connection has been closed").

    \section Truncated close
    A peer that closes the TCP connection (FIN) without sending close_notify
    first looks to Qt exactly like an orderly close. It is not a dead peer —
    the peer's host answered — but the data may have been cut short (a peer
    process that exits without closing TLS, or an attacker who injects the
    FIN). KeepAliveSslSocket says so: closeTruncated() is emitted before
    disconnected() and isCloseTruncated() is true until the next connection.
    Protocols that carry their own lengths (HTTP with Content-Length, MQTT)
    can ignore it; others should treat the last message as possibly
    incomplete. Telling the two closes apart needs the TCP connection under
    the TLS socket (one of Qt's internals the library checks, see
    KeepAliveSocket); in the public-API-only mode closeTruncated() is never
    emitted.

    \section Unbuffered
    QSslSocket decrypts into its own buffer whatever the open mode, and its
    inner connection read in Unbuffered mode ends without telling QSslSocket
    on Qt 6.4. KeepAliveSslSocket therefore opens every connection buffered:
    connectToHost() and setSocketDescriptor() drop QIODevice::Unbuffered
    from the mode they are given.
*/
class QTKEEPALIVE_EXPORT KeepAliveSslSocket : public QSslSocket
{
    Q_OBJECT
    Q_PROPERTY(KeepAliveOptions keepAliveOptions READ keepAliveOptions WRITE setKeepAliveOptions
                       NOTIFY keepAliveOptionsChanged)
    Q_PROPERTY(EffectiveKeepAliveOptions effectiveKeepAliveOptions READ effectiveKeepAliveOptions
                       NOTIFY effectiveKeepAliveOptionsChanged)
    Q_PROPERTY(QtKeepAlive::KeepAliveError keepAliveError READ keepAliveError NOTIFY
                       keepAliveErrorChanged)
    Q_PROPERTY(QtKeepAlive::DeadPeerReason deadPeerReason READ deadPeerReason NOTIFY
                       deadPeerReasonChanged)
    Q_PROPERTY(bool closeTruncated READ isCloseTruncated NOTIFY closeTruncated)

public:
    using DeadPeerReason = QtKeepAlive::DeadPeerReason;
    using KeepAliveError = QtKeepAlive::KeepAliveError;

    explicit KeepAliveSslSocket(QObject *parent = nullptr);
    ~KeepAliveSslSocket() override;

    //! See KeepAliveSocket::setKeepAliveOptions().
    bool setKeepAliveOptions(const KeepAliveOptions &options);
    KeepAliveOptions keepAliveOptions() const;
    //! See KeepAliveSocket::effectiveKeepAliveOptions(): the TCP connection under TLS.
    EffectiveKeepAliveOptions effectiveKeepAliveOptions() const;
    KeepAliveError keepAliveError() const;
    //! Human-readable description of keepAliveError(); empty for NoError.
    QString keepAliveErrorString() const;
    //! See KeepAliveSocket::deadPeerReason().
    DeadPeerReason deadPeerReason() const;
    //! See KeepAliveSocket::connectionHealth(): the TCP connection under TLS.
    ConnectionHealth connectionHealth() const;

    /*!
        Whether the last connection ended with the peer's FIN and no TLS
        close_notify before it (see "Truncated close"); false again when the
        next connection starts.
    */
    bool isCloseTruncated() const;

    //! See KeepAliveSocket::flush(); hides QSslSocket::flush(), which is not virtual.
    bool flush();
    //! Reimplemented; see KeepAliveSocket::waitForReadyRead().
    bool waitForReadyRead(int msecs = 30000) override;
    //! Reimplemented; see KeepAliveSocket::waitForReadyRead().
    bool waitForBytesWritten(int msecs = 30000) override;
    //! Reimplemented; see KeepAliveSocket::waitForReadyRead().
    bool waitForDisconnected(int msecs = 30000) override;

    //! Reimplemented: as QSslSocket's, always buffered (see "Unbuffered").
    void connectToHost(const QString &hostName, quint16 port, OpenMode openMode = ReadWrite,
                       NetworkLayerProtocol protocol = AnyIPProtocol) override;
    /*!
        Reimplemented: as QSslSocket's, always buffered (see "Unbuffered"),
        then as KeepAliveSocket::setSocketDescriptor(). For a server: adopt
        the accepted descriptor, then call startServerEncryption().
    */
    bool setSocketDescriptor(qintptr socketDescriptor, SocketState state = ConnectedState,
                             OpenMode openMode = ReadWrite) override;

Q_SIGNALS:
    void keepAliveOptionsChanged(const KeepAliveOptions &options);
    void deadPeerReasonChanged(QtKeepAlive::DeadPeerReason reason);
    void effectiveKeepAliveOptionsChanged(const EffectiveKeepAliveOptions &effective);
    void keepAliveErrorChanged(QtKeepAlive::KeepAliveError error);
    void keepAliveErrorOccurred(QtKeepAlive::KeepAliveError error);
    //! See KeepAliveSocket::deadPeer(): the same guarantees, for the TCP connection under TLS.
    void deadPeer(QtKeepAlive::DeadPeerReason reason);
    /*!
        Emitted once, before disconnected(), when the peer closed the TCP
        connection without a TLS close_notify (see "Truncated close"). Not a
        dead peer: deadPeer() is not emitted for it.
    */
    void closeTruncated();

protected:
    /*!
        Reimplemented: a write into a dead connection fails; errorString() says
        why. Every write also tells the library that data is outstanding: a
        subclass that reimplements writeData() calls this one.
    */
    qint64 writeData(const char *data, qint64 size) override;

    //! Reimplemented: the keepalive state follows the socket to another thread.
    bool event(QEvent *event) override;

private:
    friend class KeepAliveEngine; //!< sets Qt's error code and string (protected in Qt)
    // The engine's handlers of this socket's own signals, connected first (by method index).
    Q_PRIVATE_SLOT(d, void _q_connected())
    Q_PRIVATE_SLOT(d, void _q_errorOccurred(QAbstractSocket::SocketError))
    Q_PRIVATE_SLOT(d, void _q_stateChanged(QAbstractSocket::SocketState))
    Q_PRIVATE_SLOT(d, void _q_bytesWritten())
    Q_PRIVATE_SLOT(d, void _q_readyRead())
    Q_PRIVATE_SLOT(d, void _q_transportError(QAbstractSocket::SocketError))
    void onErrorOccurred(SocketError error);

    const std::unique_ptr<KeepAliveEngine>
            d; //!< no QObject: told of thread moves and removed children by event()
    bool m_closeNotifyReceived = false; //!< the current connection's peer sent close_notify
    bool m_closeTruncated = false;
};

#endif // QT_CONFIG(ssl)
