package VhostFcgi::Load;
# A small concurrent HTTP/1.1 load client for t/reuse: N client processes
# (fork), each on its own connection (keep-alive by default, reconnecting
# when the server says "Connection: close" or closes), share a number of
# GET requests; every answer is reported to the parent, which counts them
# by status, can act when a given number is done (a php-fpm reload in the
# middle), and enforces an overall deadline (children still running then
# are killed, by pid, and their missing requests count as failures).
#
#   my $r = VhostFcgi::Load::run(
#       vhost => 'vf_reuse_fpm', path => '/reuse/hello.php',
#       clients => 20, requests => 2000, keepalive => 1,
#       deadline => 120,                    # seconds for everything
#       at => [1000 => sub { ... }],        # once 1000 answers are in
#       expect => sub { my ($path, $res) = @_; ... },   # a 200 whose body
#                                           # is wrong: returns why, else ''
#   );
#   $r->{status}{200}, $r->{ok}, $r->{failed}, $r->{done}, $r->{missing},
#   $r->{errors} (up to 20 lines "status detail"), $r->{elapsed},
#   $r->{max_latency}, $r->{connections} (opened by the clients)
use strict;
use warnings;

use IO::Handle ();
use IO::Select ();
use POSIX ();
use Time::HiRes qw(time sleep);
use IO::Socket::INET ();
use VhostFcgi::Test qw(read_response vhost_port log_mark log_since);

# One client: $n requests; writes "STATUS MS DETAIL\n" per request and a
# final "CONN n RESENT n\n" to $out.
sub _client {
    my ($out, %o) = @_;
    my $sock;
    my $conns = 0;
    my $served = 0;     # answers on $sock so far
    my $resent = 0;
    local $SIG{PIPE} = 'IGNORE';
    for my $i (1 .. $o{n}) {
        my $t0 = time;
        my ($status, $detail) = (0, '');
        my $path = ref $o{path} ? $o{path}->($i) : $o{path};
        eval {
            my $res;
            # httpd may close an idle kept-alive connection just as the
            # next request goes out (mpm_event does when its threads run
            # short): a GET that got nothing back on a reused connection is
            # sent again once on a new one, as browsers do (RFC 9112 9.3.1).
            for my $try (0, 1) {
                if (!$sock) {
                    $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $o{port},
                                                  Timeout => 10)
                        or die "connect 127.0.0.1:$o{port}: $@\n";
                    $conns++;
                    $served = 0;
                }
                my $req = "GET $path HTTP/1.1\r\nHost: localhost\r\n"
                        . ($o{keepalive} ? '' : "Connection: close\r\n") . "\r\n";
                my $off = 0;
                my $reused = $served > 0;
                while ($off < length $req) {
                    my $w = syswrite($sock, $req, length($req) - $off, $off);
                    last if !defined $w && $reused;
                    die "write: $!\n" unless defined $w;
                    $off += $w;
                }
                $res = read_response($sock, method => 'GET', timeout => $o{timeout})
                    if $off == length $req;
                last if !$reused || ($res && (defined $res->{status} || $res->{timed_out}));
                close $sock;
                undef $sock;
                $resent++;
            }
            if (!defined $res->{status}) {
                $detail = $res->{timed_out} ? 'no answer (timeout)' : 'connection closed without an answer';
            }
            else {
                $status = $res->{status};
                $detail = $res->{complete} ? '' : 'incomplete body';
                $status = 0 if !$res->{complete};
                if ($status == 200 && $o{expect}) {
                    # another request's answer, say
                    my $wrong = $o{expect}->($path, $res);
                    ($status, $detail) = (0, $wrong) if $wrong;
                }
            }
            $served++;
            if (!$o{keepalive} || !defined $res->{status} || !$res->{complete} || $res->{eof}
                || ($res->{header}{connection} // '') =~ /close/i) {
                close $sock;
                undef $sock;
            }
            1;
        } or do {
            ($detail = $@ || 'error') =~ s/\s+$//;
            close $sock if $sock;
            undef $sock;
        };
        $detail =~ s/\s+/ /g;
        syswrite $out, sprintf("%d %d %s\n", $status, 1000 * (time - $t0), $detail);
    }
    close $sock if $sock;
    syswrite $out, "CONN $conns RESENT $resent\n";
}

sub run {
    my (%o) = @_;
    $o{clients} //= 10;
    $o{requests} //= 100;
    $o{keepalive} //= 1;
    $o{deadline} //= 120;
    $o{timeout} //= 60;          # per answer
    my @at = @{ $o{at} || [] };
    my %r = (status => {}, ok => 0, failed => 0, done => 0, errors => [],
             max_latency => 0, connections => 0, resent => 0, latencies => []);
    # A crashed httpd child also closes connections without an answer, and
    # the resend would hide it: crashes count as failed requests.
    my $mark = log_mark();
    # Resolved here, once: the children only connect.
    $o{port} = vhost_port($o{vhost});
    my $t0 = time;

    my (%kids, %buf, %fh_pid);
    my $sel = IO::Select->new;
    for my $c (0 .. $o{clients} - 1) {
        my $n = int($o{requests} / $o{clients}) + ($c < $o{requests} % $o{clients} ? 1 : 0);
        next unless $n;
        pipe(my $rd, my $wr) or die "pipe: $!";
        my $pid = fork // die "fork: $!";
        if (!$pid) {
            close $rd;
            # no END blocks, no Test::More summary in the children
            eval { _client($wr, %o, n => $n) };
            POSIX::_exit(0);
        }
        close $wr;
        $kids{$pid} = $n;
        $fh_pid{fileno $rd} = $pid;
        $buf{fileno $rd} = '';
        $sel->add($rd);
    }

    my $end = $t0 + $o{deadline};
    while ($sel->count && time < $end) {
        for my $fh ($sel->can_read(0.2)) {
            my $fd = fileno $fh;
            my $got = sysread $fh, $buf{$fd}, 65536, length $buf{$fd};
            if (!$got) {
                $sel->remove($fh);
                close $fh;
                next;
            }
            while ($buf{$fd} =~ s/^([^\n]*)\n//) {
                my $line = $1;
                if ($line =~ /^CONN (\d+) RESENT (\d+)/) {
                    $r{connections} += $1;
                    $r{resent} += $2;
                    next;
                }
                my ($status, $ms, $detail) = $line =~ /^(\d+) (\d+) ?(.*)$/ or next;
                $r{done}++;
                $r{status}{$status}++;
                push @{ $r{latencies} }, $ms;
                $r{max_latency} = $ms if $ms > $r{max_latency};
                if ($status == 200) { $r{ok}++ }
                else {
                    $r{failed}++;
                    push @{ $r{errors} }, "$status $detail" if @{ $r{errors} } < 20;
                }
                while (@at && $r{done} >= $at[0]) {
                    my (undef, $cb) = splice @at, 0, 2;
                    $cb->(\%r);
                }
            }
        }
    }
    $r{timed_out} = $sel->count ? 1 : 0;
    # Children still running past the deadline: ours, stopped by pid.
    for my $pid (keys %kids) {
        kill 'TERM', $pid if waitpid($pid, POSIX::WNOHANG()) == 0;
    }
    for my $pid (keys %kids) {
        my $until = time + 5;
        while (waitpid($pid, POSIX::WNOHANG()) == 0) {
            if (time > $until) { kill 'KILL', $pid; waitpid($pid, 0); last }
            sleep 0.05;
        }
    }
    $r{elapsed} = time - $t0;
    $r{missing} = $o{requests} - $r{done};
    $r{failed} += $r{missing};
    my @crashes = log_since($mark) =~ /^(.*exit signal.*)$/mg;
    if (@crashes) {
        $r{crashes} = @crashes;
        $r{failed} += @crashes;
        $r{ok} -= @crashes < $r{ok} ? @crashes : $r{ok};
        push @{ $r{errors} }, "httpd child crashed: $_" for @crashes;
    }
    my @l = sort { $a <=> $b } @{ $r{latencies} };
    $r{p50} = @l ? $l[int(@l * 0.50)] : 0;
    $r{p99} = @l ? $l[int(@l * 0.99)] : 0;
    delete $r{latencies};
    return \%r;
}

# "200=1998 503=2" and friends, for diag.
sub summary {
    my $r = shift;
    return sprintf '%d answers in %.1f s (%s), %d missing, %d connections, p50 %d ms, p99 %d ms, max %d ms%s%s',
        $r->{done}, $r->{elapsed},
        join(' ', map { "$_=$r->{status}{$_}" } sort keys %{ $r->{status} }) || 'none',
        $r->{missing}, $r->{connections}, $r->{p50}, $r->{p99}, $r->{max_latency},
        $r->{resent} ? ", $r->{resent} resent after httpd closed a kept-alive connection" : '',
        $r->{crashes} ? ", $r->{crashes} httpd child crash(es)" : '';
}

1;
