package VhostFcgi::Test;
# Helpers shared by t/TEST.PL and the t/*/*.t files of mod_vhostfcgi's
# Apache::Test suite: module selection, backend addresses, a raw HTTP/1.1
# client that reports exactly what arrived and when, error-log scanning,
# and httpd child memory figures.
#
# Environment (set by scripts/run-itest):
#   VF_MODULE        stock | vhostfcgi (default vhostfcgi)
#   VF_MODULE_SO     path of the built mod_vhostfcgi.so
#   VF_FPM_SOCK      php-fpm unix socket (pool "www")
#   VF_FPM_PORT      php-fpm TCP port on 127.0.0.1 (pool "www-tcp")
#   VF_FPM_PORT2     php-fpm TCP port on 127.0.0.1 (pool "www2", 2nd balancer member)
#   VF_MB_SOCK       fcgi-misbehave unix socket ("" when it was not built)
#   VF_MB_PORT       fcgi-misbehave TCP port on 127.0.0.1
#   VF_DEAD_PORT     a 127.0.0.1 TCP port nothing listens on
#   VF_NOSOCK        a unix socket path that does not exist
#   VF_REPO          the checkout (may not be readable by other users)
# and for the pool tests (t/pools, t/reuse; see VhostFcgi::Pools):
#   VF_POOLS_FILE    the pools file VhostFcgiPoolsFile reads
#   VF_SITES_DIR     the tenant sites (VhostFcgi::Sites lays them out)
#   VF_SITE_A_DOC, VF_SITE_B_DOC, VF_SITE_A_EXTRA   their directories
#   VF_SITE_A_SOCK, VF_SITE_B_SOCK   php-fpm pools site-a / site-b
#   VF_SITE_[AB]_USER, VF_SITE_[AB]_GROUP   their PHP users and groups
#   VF_SITES_ISOLATED  1 when the two sites run as different users
#   VF_BUSY_SOCK, VF_SLOW_SOCK      php-fpm pools busy / slow
#   VF_REUSE_SOCK    php-fpm pool reuse (own master, pm.max_requests 5)
#   VF_FPM_REUSE_PIDFILE, VF_FPM_REUSE_LOG   that master's pid file and log
#   VF_MB_REUSE_SOCK, VF_MB_CLOSE_SOCK   fcgi-misbehave, plain / -c 3
use strict;
use warnings;

use Exporter 'import';
use File::Spec ();
use IO::Select ();
use IO::Socket::INET ();
use Time::HiRes qw(time sleep);
use Digest::MD5 ();

our @EXPORT_OK = qw(
    vf_module is_stock stock_todo per_process_mpm PER_PROCESS_WHY
    raw_request raw_connect read_response send_request read_held
    log_mark log_since log_wait_for
    httpd_parent_pid httpd_children httpd_child_serving rss_kb
    children_rss_kb
    parse_env misbehave_available t_logs_dir
    header_values vhost_port docroot get_env
);
our %EXPORT_TAGS = (all => \@EXPORT_OK);

# Debian's httpd modules (apxs -q LIBEXECDIR).
use constant MODULE_DIR => '/usr/lib/apache2/modules';

sub vf_module {
    my $m = $ENV{VF_MODULE} // '';
    return $m eq '' ? 'vhostfcgi' : $m;
}

sub is_stock { vf_module() eq 'stock' }

# Under mpm_prefork (VF_MPM=prefork) each httpd process serves one request
# at a time: kept connections are per process and nothing waits inside a
# process for another's connection, so the tests that count reuse or
# hand-overs skip those counts (every answer must still be right).
sub per_process_mpm { ($ENV{VF_MPM} // '') eq 'prefork' }
use constant PER_PROCESS_WHY =>
    'mpm_prefork: kept connections are per process, requests spread over its processes';

# A reason for local $TODO where stock mod_proxy_fcgi is known to differ
# from what mod_vhostfcgi must do ($why says what stock does); undef (a
# real test) for our module, or when $why is empty.
sub stock_todo {
    my $why = shift;
    return is_stock() && length($why // '') ? "stock: $why" : undef;
}

sub misbehave_available { length($ENV{VF_MB_SOCK} // '') > 0 }

# The directory of this staged t/ tree.
sub t_dir {
    my $here = File::Spec->rel2abs(__FILE__);       # t/lib/VhostFcgi/Test.pm
    my @d = File::Spec->splitdir((File::Spec->splitpath($here))[1]);
    pop @d while @d && $d[-1] eq '';
    splice @d, -2;                                  # drop lib/VhostFcgi
    return File::Spec->catdir(@d);
}

sub t_logs_dir { File::Spec->catdir(t_dir(), 'logs') }

# ---------------------------------------------------------------------------
# Configuration

# The @VF_*@ tokens available to t/conf/*.conf.in.
sub conf_vars {
    my %v = (
        vf_fpm_sock   => $ENV{VF_FPM_SOCK}  || '/nonexistent/fpm.sock',
        vf_fpm_port   => $ENV{VF_FPM_PORT}  || 1,
        vf_fpm_port2  => $ENV{VF_FPM_PORT2} || 1,
        vf_mb_sock    => $ENV{VF_MB_SOCK}   || '/nonexistent/misbehave.sock',
        vf_mb_port    => $ENV{VF_MB_PORT}   || 1,
        vf_dead_port  => $ENV{VF_DEAD_PORT} || 1,
        vf_nosock     => $ENV{VF_NOSOCK}    || '/nonexistent/vhostfcgi-test.sock',
    );
    # The pool tests' fixtures (none when t/TEST.PL runs without run-itest:
    # paths that do not exist, so the config still parses and they skip).
    my %pools = (
        vf_pools_file    => '/nonexistent/pools.conf',
        vf_sites_dir     => '/nonexistent/sites',
        vf_site_a_doc    => '/nonexistent/sites/a/htdocs',
        vf_site_a_extra  => '/nonexistent/sites/a/extra',
        vf_site_b_doc    => '/nonexistent/sites/b/htdocs',
        vf_site_a_sock   => '/nonexistent/site-a.sock',
        vf_site_b_sock   => '/nonexistent/site-b.sock',
        vf_busy_sock     => '/nonexistent/busy.sock',
        vf_slow_sock     => '/nonexistent/slow.sock',
        vf_reuse_sock    => '/nonexistent/reuse.sock',
        vf_mb_reuse_sock => '/nonexistent/misbehave-reuse.sock',
        vf_mb_close_sock => '/nonexistent/misbehave-close.sock',
    );
    for my $k (keys %pools) {
        $v{$k} = $ENV{uc $k} || $pools{$k};
    }
    return \%v;
}

# VF_MPM=prefork runs the suite on mpm_prefork (Debian's MPM wherever
# mod_php is installed, so where most migrations start); event otherwise.
sub mpm_module {
    my $mpm = $ENV{VF_MPM} || 'event';
    die "VF_MPM must be event or prefork\n" unless $mpm =~ /^(event|prefork)$/;
    return ["mpm_${mpm}_module" => "mod_mpm_${mpm}.so"];
}

# Base modules every configuration of the suite needs, in load order.
sub base_modules {
    return (
        mpm_module(),
        [authz_core_module         => 'mod_authz_core.so'],
        [authz_host_module         => 'mod_authz_host.so'],
        [authn_core_module         => 'mod_authn_core.so'],
        [mime_module               => 'mod_mime.so'],
        [dir_module                => 'mod_dir.so'],
        [alias_module              => 'mod_alias.so'],
        [env_module                => 'mod_env.so'],
        [setenvif_module           => 'mod_setenvif.so'],
        [headers_module            => 'mod_headers.so'],
        [rewrite_module            => 'mod_rewrite.so'],
        [actions_module            => 'mod_actions.so'],
        [status_module             => 'mod_status.so'],
        [include_module            => 'mod_include.so'],
        [negotiation_module        => 'mod_negotiation.so'],
        [proxy_module              => 'mod_proxy.so'],
        [slotmem_shm_module        => 'mod_slotmem_shm.so'],
        [proxy_balancer_module     => 'mod_proxy_balancer.so'],
        [lbmethod_byrequests_module=> 'mod_lbmethod_byrequests.so'],
    );
}

sub stock_fcgi_so { MODULE_DIR . '/mod_proxy_fcgi.so' }

sub vhostfcgi_so {
    return $ENV{VF_MODULE_SO} if $ENV{VF_MODULE_SO};
    # t/ -> repository top (when run from the checkout itself)
    return File::Spec->catfile(t_dir(), File::Spec->updir, '.libs', 'mod_vhostfcgi.so');
}

# [name, absolute path] of the FastCGI handler module under test.
sub fcgi_module {
    my $m = vf_module();
    return ['proxy_fcgi_module', stock_fcgi_so()] if $m eq 'stock';
    return ['vhostfcgi_module', vhostfcgi_so()] if $m eq 'vhostfcgi';
    die "VF_MODULE must be 'stock' or 'vhostfcgi', not '$m'\n";
}

# LoadModule lines for the base modules plus the module under test.
sub load_module_lines {
    my @extra = @_;      # more [name, path] pairs, loaded last
    my @lines;
    for my $m (base_modules()) {
        push @lines, sprintf "LoadModule %s %s/%s", $m->[0], MODULE_DIR, $m->[1];
    }
    for my $m (@extra) {
        push @lines, sprintf 'LoadModule %s "%s"', @$m;
    }
    return @lines;
}

# Writes the file t/TEST.PL hands Apache::Test as the config to "inherit"
# LoadModule lines from.  Dies when the module under test is missing:
# Apache::Test would otherwise silently skip it and test nothing.
sub write_modules_conf {
    my $file = shift;
    my $mod = fcgi_module();
    -f $mod->[1] or die "module under test not found: $mod->[1]"
        . (is_stock() ? "\n" : " (run make, or set VF_MODULE=stock)\n");
    open my $fh, '>', $file or die "$file: $!";
    print $fh "# generated by t/TEST.PL for VF_MODULE=", vf_module(), "\n";
    print $fh "$_\n" for load_module_lines($mod);
    close $fh or die "$file: $!";
    return $file;
}

# ---------------------------------------------------------------------------
# A raw HTTP/1.1 client.  Apache::TestRequest (LWP) hides what we need to
# see: chunk arrival times, a body cut short, repeated headers verbatim.

# Connects to the vhost of an Apache::Test config section ('' = main server).
sub raw_connect {
    my $module = shift;
    require Apache::TestRequest;
    my $sock = Apache::TestRequest::vhost_socket($module || undef)
        or die "cannot connect to vhost '" . ($module // '') . "': $!";
    $sock->autoflush(1);
    return $sock;
}

# raw_request($vhost, $method, $path, %opt) sends one request with
# "Connection: close" and reads the whole response.
#   headers   => [Name => value, ...]    extra request headers
#   body      => string                  request body (Content-Length added)
#   body_cb   => sub { return next piece or undef }   streamed body
#   length    => N                       Content-Length for body_cb
#   chunked   => 1                       send body_cb pieces as chunks
#   on_body   => sub { my($bytes, $t) }  called for each body piece read
#   keep_body => 0                       do not store the body (big responses)
#   timeout   => seconds without progress before giving up (default 60)
#   http10    => 1                       send HTTP/1.0
# Returns the hash of read_response (below) plus {elapsed} (seconds),
# {local_port} (the client side's port) and {write_error} if the server
# stopped reading the request.
sub raw_request {
    my ($module, $method, $path, %opt) = @_;
    my $sock = raw_connect($module);
    my $local_port = $sock->sockport;
    my $t0 = time;
    my $proto = $opt{http10} ? 'HTTP/1.0' : 'HTTP/1.1';
    my $req = "$method $path $proto\r\nHost: localhost\r\nConnection: close\r\n";
    my @h = @{ $opt{headers} || [] };
    while (@h) {
        my ($n, $v) = splice @h, 0, 2;
        $req .= "$n: $v\r\n";
    }
    # A server may answer and close before it read the whole body: stop
    # sending then (no SIGPIPE) and read what it said.
    local $SIG{PIPE} = 'IGNORE';
    my $write_error;
    if (defined $opt{body}) {
        $req .= "Content-Length: " . length($opt{body}) . "\r\n\r\n" . $opt{body};
        $write_error = _write_all($sock, $req);
    }
    elsif ($opt{body_cb}) {
        $req .= $opt{chunked} ? "Transfer-Encoding: chunked\r\n\r\n"
                              : "Content-Length: $opt{length}\r\n\r\n";
        $write_error = _write_all($sock, $req);
        while (!$write_error && defined(my $piece = $opt{body_cb}->())) {
            next unless length $piece;
            $write_error = _write_all($sock, $opt{chunked}
                ? sprintf("%x\r\n", length $piece) . $piece . "\r\n" : $piece);
        }
        $write_error ||= _write_all($sock, "0\r\n\r\n") if $opt{chunked};
    }
    else {
        $write_error = _write_all($sock, "$req\r\n");
    }
    my $res = read_response($sock, method => $method, %opt);
    $res->{write_error} = $write_error if $write_error;
    $res->{elapsed} = time - $t0;
    $res->{local_port} = $local_port;
    close $sock;
    return $res;
}

# send_request($sock, $method, $path, %opt) sends one request on a client
# connection kept open (raw_connect), without "Connection: close", and
# reads its response: several requests on one connection reach the same
# httpd child, one after the other.  Options as raw_request's headers,
# body and timeout.  Returns read_response's hash plus {write_error}.
sub send_request {
    my ($sock, $method, $path, %opt) = @_;
    my $req = "$method $path HTTP/1.1\r\nHost: localhost\r\n";
    my @h = @{ $opt{headers} || [] };
    while (@h) {
        my ($n, $v) = splice @h, 0, 2;
        $req .= "$n: $v\r\n";
    }
    $req .= "Content-Length: " . length($opt{body}) . "\r\n"
        if defined $opt{body};
    $req .= "\r\n" . ($opt{body} // '');
    local $SIG{PIPE} = 'IGNORE';
    my $write_error = _write_all($sock, $req);
    my $res = read_response($sock, method => $method, %opt);
    $res->{write_error} = $write_error if $write_error;
    return $res;
}

# Writes everything; returns the error text on failure, '' on success.
sub _write_all {
    my ($sock, $data) = @_;
    my $off = 0;
    while ($off < length $data) {
        my $n = syswrite($sock, $data, 1 << 20, $off);
        return "write: $!" unless defined $n;
        $off += $n;
    }
    return '';
}

# Reads one response until the body is complete or the server closes.
# Returns {status, reason, headers => [[name, value], ...] (names
# lower-cased), header => {name => "v1, v2"}, body, body_len, body_md5,
# complete (body ended as framed: last chunk / Content-Length reached /
# close-delimited), chunked, eof (server closed), timed_out,
# first_body_time, last_body_time, head_raw}.
sub read_response {
    my ($sock, %opt) = @_;
    my $timeout = $opt{timeout} // 60;
    my $sel = IO::Select->new($sock);
    my $buf = '';
    my %r = (headers => [], header => {}, body => '', body_len => 0,
             complete => 0, eof => 0, timed_out => 0);
    my $md5 = Digest::MD5->new;

    my $fill = sub {            # reads more into $buf; false at EOF/timeout
        return 0 if $r{eof};
        unless ($sel->can_read($timeout)) { $r{timed_out} = 1; return 0 }
        my $n = sysread($sock, $buf, 256 * 1024, length $buf);
        if (!$n) { $r{eof} = 1; $r{read_error} = $! unless defined $n; return 0 }
        return 1;
    };
    my $deliver = sub {
        my $piece = shift;
        return unless length $piece;
        my $now = time;
        $r{first_body_time} //= $now;
        $r{last_body_time} = $now;
        $r{body_len} += length $piece;
        $md5->add($piece);
        $r{body} .= $piece unless defined $opt{keep_body} && !$opt{keep_body};
        $opt{on_body}->($piece, $now) if $opt{on_body};
    };

    # Status line and headers (skipping interim 1xx responses).
    while (1) {
        my $end;
        until (($end = index $buf, "\r\n\r\n") >= 0) {
            unless ($fill->()) {
                $r{head_raw} = $buf;
                $r{body_md5} = $md5->hexdigest;
                return \%r;
            }
        }
        my $head = substr $buf, 0, $end + 4, '';
        $r{head_raw} = $head;
        my @lines = split /\r\n/, $head;
        my $sl = shift @lines;
        ($r{protocol}, $r{status}, $r{reason}) = $sl =~ m{^(HTTP/\d\.\d) (\d{3}) ?(.*)$}
            or die "bad status line: $sl";
        next if $r{status} =~ /^1/;
        for (@lines) {
            my ($n, $v) = /^([^:]+):[ \t]*(.*)$/ or next;
            push @{ $r{headers} }, [lc $n, $v];
            $r{header}{lc $n} = exists $r{header}{lc $n}
                ? "$r{header}{lc $n}, $v" : $v;
        }
        last;
    }

    my $te = $r{header}{'transfer-encoding'} // '';
    my $cl = $r{header}{'content-length'};
    if (($opt{method} // '') eq 'HEAD' || $r{status} == 204 || $r{status} == 304) {
        # No body by definition; see whether the server sent one anyway.
        $fill->() if $opt{check_no_body};
        $r{stray_after_head} = length $buf;
        $r{complete} = 1;
    }
    elsif ($te =~ /chunked/i) {
        $r{chunked} = 1;
        CHUNK: while (1) {
            my $eol;
            until (($eol = index $buf, "\r\n") >= 0) { last CHUNK unless $fill->() }
            my $line = substr $buf, 0, $eol + 2, '';
            my ($size) = $line =~ /^([0-9a-fA-F]+)/ or last CHUNK;
            $size = hex $size;
            if ($size == 0) {
                # trailers up to the empty line
                while (1) {
                    until (($eol = index $buf, "\r\n") >= 0) { last CHUNK unless $fill->() }
                    my $tl = substr $buf, 0, $eol + 2, '';
                    if ($tl eq "\r\n") { $r{complete} = 1; last CHUNK }
                }
            }
            while ($size > 0) {
                if (!length $buf) { last CHUNK unless $fill->() }
                my $piece = substr $buf, 0, ($size < length $buf ? $size : length $buf), '';
                $size -= length $piece;
                $deliver->($piece);
            }
            until (length($buf) >= 2) { last CHUNK unless $fill->() }
            last CHUNK unless substr($buf, 0, 2, '') eq "\r\n";
        }
    }
    elsif (defined $cl) {
        my $left = $cl;
        while ($left > 0) {
            if (!length $buf) { last unless $fill->() }
            my $piece = substr $buf, 0, ($left < length $buf ? $left : length $buf), '';
            $left -= length $piece;
            $deliver->($piece);
        }
        $r{complete} = $left == 0 ? 1 : 0;
    }
    else {
        # Close-delimited body: complete only as far as a client can tell.
        while (1) {
            $deliver->(substr $buf, 0, length $buf, '') if length $buf;
            last unless $fill->();
        }
        $r{complete} = $r{eof} && !$r{timed_out} ? 1 : 0;
        $r{close_delimited} = 1;
    }
    $r{body_md5} = $md5->hexdigest;
    return \%r;
}

# All values of a response header, in order.
sub header_values {
    my ($res, $name) = @_;
    return map { $_->[1] } grep { $_->[0] eq lc $name } @{ $res->{headers} };
}

# ---------------------------------------------------------------------------
# The error log

sub error_log_file { File::Spec->catfile(t_logs_dir(), 'error_log') }

# The current end of the error log, for log_since / log_wait_for.
# Reads the answers to requests sent ahead on their own sockets, in the
# order they come: each of @$held ({sock, sent => time}) gets res and
# elapsed (seconds since sent), its socket closed; a request still silent
# after $timeout seconds (default 30) is left without res.
sub read_held {
    my ($held, $timeout) = @_;
    my %by_sock = map { (fileno $_->{sock}) => $_ } @$held;
    my $sel = IO::Select->new(map { $_->{sock} } @$held);
    my $until = time + ($timeout // 30);
    while ($sel->count && time < $until) {
        for my $s ($sel->can_read(0.5)) {
            my $h = $by_sock{fileno $s};
            $h->{res} = read_response($s, method => 'GET', timeout => 30);
            $h->{elapsed} = time - $h->{sent};
            $sel->remove($s);
            close $s;
        }
    }
}

sub log_mark { return -s error_log_file() || 0 }

sub log_since {
    my $mark = shift // 0;
    open my $fh, '<', error_log_file() or return '';
    seek $fh, $mark, 0;
    local $/;
    my $text = <$fh>;
    return $text // '';
}

# Waits (bounded) until the log written after $mark matches $re; returns the
# matching text or '' after $timeout seconds.  httpd may log a moment after
# the client saw the response.
sub log_wait_for {
    my ($mark, $re, $timeout) = @_;
    my $deadline = time + ($timeout // 5);
    while (1) {
        my $text = log_since($mark);
        return $text if $text =~ $re;
        return '' if time > $deadline;
        sleep 0.1;
    }
}

# ---------------------------------------------------------------------------
# httpd processes

sub httpd_parent_pid {
    my $pidfile = File::Spec->catfile(t_logs_dir(), 'httpd.pid');
    open my $fh, '<', $pidfile or return;
    my $pid = <$fh>;
    return unless defined $pid && $pid =~ /(\d+)/;
    return $1;
}

# pids of the httpd parent's children (the processes serving requests).
sub httpd_children {
    my $parent = httpd_parent_pid() or return;
    my @kids;
    opendir my $dh, '/proc' or return;
    for my $pid (grep { /^\d+$/ } readdir $dh) {
        open my $fh, '<', "/proc/$pid/stat" or next;
        my $stat = <$fh> // next;
        # pid (comm) state ppid ...; comm may contain spaces and parens
        my ($ppid) = $stat =~ /\)\s+\S+\s+(\d+)/ or next;
        push @kids, $pid if $ppid == $parent;
    }
    return sort { $a <=> $b } @kids;
}

# The httpd child holding the server side of the client connection $sock
# (a raw_connect socket whose request it has accepted), or undef: the
# kernel's TCP table gives that side's socket inode, and the child is the
# one with a descriptor on it.
sub httpd_child_serving {
    my $sock = shift;
    my ($client, $server) = ($sock->sockport, $sock->peerport);
    my $inode;
    for my $table ('/proc/net/tcp', '/proc/net/tcp6') {
        open my $fh, '<', $table or next;
        while (my $line = <$fh>) {
            # sl local_address rem_address st ... uid timeout inode
            my @f = split ' ', $line;
            next unless @f > 9 && $f[1] =~ /:([0-9A-F]{4})$/
                && hex($1) == $server && $f[2] =~ /:([0-9A-F]{4})$/
                && hex($1) == $client;
            $inode = $f[9];
            last;
        }
        last if $inode;
    }
    return undef unless $inode;
    for my $pid (httpd_children()) {
        opendir my $dh, "/proc/$pid/fd" or next;
        for my $fd (readdir $dh) {
            my $to = readlink "/proc/$pid/fd/$fd" // next;
            return $pid if $to eq "socket:[$inode]";
        }
    }
    return undef;
}

sub rss_kb {
    my $pid = shift;
    open my $fh, '<', "/proc/$pid/status" or return 0;
    while (my $line = <$fh>) { return $1 if $line =~ /^VmRSS:\s+(\d+)\s+kB/ }
    return 0;
}

# {pid => VmRSS kB} of every httpd child.
sub children_rss_kb {
    my %rss;
    $rss{$_} = rss_kb($_) for httpd_children();
    return \%rss;
}

# ---------------------------------------------------------------------------
# Apache::Test configuration values

# The port Apache::Test gave <VirtualHost $name>.
sub vhost_port {
    my $name = shift;
    require Apache::Test;
    my $cfg = Apache::Test::config();
    my $v = $cfg->{vhosts}{$name} or die "no vhost $name in the test config";
    return $v->{port};
}

sub docroot {
    require Apache::Test;
    return Apache::Test::vars('documentroot');
}

# GET (or another method) of a script that prints NAME=VALUE lines (env.php,
# fcgi-misbehave's echo); returns ($response, {NAME => VALUE}).
sub get_env {
    my ($module, $path, %opt) = @_;
    my $method = delete $opt{method} // 'GET';
    my $res = raw_request($module, $method, $path, %opt);
    return ($res, parse_env($res->{body}));
}

# ---------------------------------------------------------------------------
# t/htdocs/php/env.php prints "NAME=VALUE\n" lines (values with \n escaped);
# the fcgi-misbehave "echo" scenario prints the same shape.
sub parse_env {
    my $text = shift // '';
    my %env;
    for my $line (split /\n/, $text) {
        my ($k, $v) = $line =~ /^([^=]+)=(.*)$/s or next;
        $v =~ s/\\([\\n])/$1 eq 'n' ? "\n" : "\\"/ge;
        $env{$k} = $v;
    }
    return \%env;
}

1;
