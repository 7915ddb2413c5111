# A drop-in SetHandler "proxy:fcgi://..." whose answer makes httpd serve
# a second request (vhost vf_dropin_redirect: a worker of max=2
# connections to php-fpm, LimitRequestBody 4096, ErrorDocument 413 a
# script of the same backend).
#
# Regressions:
#   - the local redirect was served while the first request still held
#     its backend connection: with every connection of the worker held by
#     requests doing the same, each waited for a connection forever and
#     the httpd child hung (here: 4 at once, 2 connections);
#   - the second request of a local redirect, and an ErrorDocument, found
#     the first request's body (kept on the request's pool, which they
#     share) and read on from the client: a POST's body reached the GET
#     it was redirected to, and the rest of a body LimitRequestBody had
#     refused reached the 413's ErrorDocument script.
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use POSIX ();
use VhostFcgi::Test qw(:all);

plan skip_all => 'VF_MODULE=stock: mod_proxy_fcgi has its own behaviour here'
    if is_stock();
plan tests => 9;

my $vhost = 'vf_dropin_redirect';
my $dir = t_logs_dir();

# Four at once, each holding a connection for 300 ms, then redirected to
# a script of the same backend.
my @kids;
for my $n (1 .. 4) {
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        my $res = eval {
            raw_request($vhost, 'GET', '/reuse/local-redirect.php?ms=300'
                        . '&to=/reuse/hello.php', timeout => 15);
        };
        open my $out, '>', "$dir/dropin-redirect.$n" or POSIX::_exit(1);
        printf $out "%s %s %.2f\n", ($res && $res->{status}) || 'none',
            ($res && $res->{body} =~ /^hello from pid/m) ? 'hello' : 'other',
            $res ? $res->{elapsed} : 99;
        close $out;
        POSIX::_exit(0);
    }
    push @kids, $pid;
}
waitpid($_, 0) for @kids;
my (@got, @took);
for my $n (1 .. 4) {
    open my $in, '<', "$dir/dropin-redirect.$n" or next;
    my ($status, $what, $took) = split ' ', <$in> // '';
    unlink "$dir/dropin-redirect.$n";
    push @got, "$status $what";
    push @took, $took;
}
is(join(', ', @got), join(', ', ('200 hello') x 4),
   'four local redirects at once on a worker of two connections: all served');
# (The bound is far above the 0.3 s each needs, far below the client's 15.)
ok(!grep({ $_ > 8 } @took), '... each within 8 s (none waited for a '
   . 'connection its own request held): ' . join(', ', @took) . ' s');

# A POST redirected: the target is a GET without the body.
my $res = raw_request($vhost, 'POST', '/reuse/local-redirect.php',
                      body => 'abc', timeout => 15);
is($res->{status}, 200, 'a POST answered with a local redirect: 200');
like($res->{body} // '', qr/^method=GET cl=0 len=0$/m,
     '... the target is a GET and gets no body') or diag($res->{body});

# A body over LimitRequestBody: 413, and its ErrorDocument gets none of it.
$res = raw_request($vhost, 'POST', '/reuse/hello.php', body => 'x' x 100000,
                   timeout => 15);
is($res->{status}, 413, 'a POST of 100000 bytes over LimitRequestBody 4096: 413');
like($res->{body} // '', qr/^method=GET cl=0 len=0$/m,
     '... its ErrorDocument script gets none of the body') or diag($res->{body});

my $chunk = 'y' x 1000;
my $left = 60;
$res = raw_request($vhost, 'POST', '/reuse/hello.php', chunked => 1,
                   body_cb => sub { $left-- > 0 ? $chunk : undef },
                   timeout => 15);
is($res->{status}, 413, 'a chunked POST of 60000 bytes: 413');
like($res->{body} // '', qr/^method=GET cl=0 len=0$/m,
     '... and its ErrorDocument gets none of it either') or diag($res->{body});

# The worker still serves.
$res = raw_request($vhost, 'GET', '/reuse/hello.php', timeout => 15);
is($res->{status}, 200, 'afterwards a plain request: 200');
