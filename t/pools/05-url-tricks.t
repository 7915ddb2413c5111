# URL tricks that aim at running a file that is not a script, each checked
# on the real file after httpd's own URL handling: encoded slashes, dot
# segments (plain and percent-encoded), %00, a directory named x.php, and
# the non-scripts x.php.txt and x.PHP (extensions are matched on the real
# file's name, case-sensitively).  None is executed, none reaches php-fpm.
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use VhostFcgi::Test qw(:all);
use VhostFcgi::Pools qw(:all);

if (my $why = pools_skip_reason()) { plan skip_all => $why }

my $doc = site_doc('a');
sub raw_file { my $f = shift; open my $fh, '<:raw', "$doc/$f" or die "$f: $!"; local $/; <$fh> }

# [what, path, expected status (or a list), exact body (raw file) or undef]
my @cases = (
    ['encoded slash after evil.gif',     '/uploads/evil.gif%2Fx.php',        [404]],
    ['encoded slash before evil.gif',    '/uploads%2Fevil.gif/x.php',        [404]],
    ['encoded slash, lower case',        '/uploads/evil.gif%2fx.php',        [404]],
    ['dot segment ./',                   '/uploads/./evil.gif/./x.php',      [404]],
    ['dot segment ../',                  '/uploads/../uploads/evil.gif/x.php', [404]],
    ['dot segment from a missing dir',   '/nodir/../uploads/evil.gif/x.php', [404]],
    ['dot segment after evil.gif',       '/uploads/evil.gif/../evil.gif/x.php', [404]],
    ['encoded dot segment %2e%2e',       '/uploads/%2e%2e/uploads/evil.gif/x.php', [404]],
    ['encoded dot segment %2E',          '/uploads/%2E/evil.gif/%2E/x.php',  [404]],
    ['%00 before .php',                  '/uploads/evil.gif%00.php',         [404, 400]],
    ['%00 in the path info',             '/uploads/evil.gif%00/x.php',       [404, 400]],
    ['%00 after a script name',          '/x.php.txt%00.php',                [404, 400]],
    ['directory named dir.php',          '/dir.php',                         [301]],
    ['directory named dir.php/',         '/dir.php/',                        [403, 404]],
    ['directory named dir.php/x.php',    '/dir.php/x.php',                   [404]],
    ['file in a directory named dir.php', '/dir.php/inner.txt',              [200], raw_file('dir.php/inner.txt')],
    ['x.php.txt',                        '/x.php.txt',                       [200], raw_file('x.php.txt')],
    ['x.php.txt with path info',         '/x.php.txt/y.php',                 [404]],
    # Named as PHP runs it elsewhere: refused, not shown (14-routing-guards).
    ['x.PHP (upper case)',               '/x.PHP',                           [403]],
    ['x.PHP with path info',             '/x.PHP/y.php',                     [403]],
    ['X.php (no such file)',             '/X.php',                           [404]],
);
plan tests => 3 * @cases + 2;

my $mark = access_mark('site-a');
for my $c (@cases) {
    my ($what, $path, $statuses, $body) = @$c;
    my $res = raw_request('vf_site_a', 'GET', $path);
    my $b = $res->{body} // '';
    ok($b !~ /EVIL-EXECUTED|XTXT-EXECUTED|XUPPER-EXECUTED|SCRIPT-RAN/,
       "$what ($path): nothing executed") or diag($b);
    ok((grep { $res->{status} == $_ } @$statuses),
       "$what ($path): " . join(' or ', @$statuses) . " from httpd")
        or diag("got $res->{status}");
    if (defined $body) {
        is($b, $body, "$what ($path): the file itself, served static");
    }
    else {
        unlike($b, qr/^X_|File not found\.|No input file specified|Access denied\./m,
               "$what ($path): not an answer of php-fpm");
    }
}

my $log = access_settle('vf_site_a', 'site-a', $mark);
ok(defined $log, "site-a's access log shows the sentinel request");
my @hits = grep { !/sentinel-/ } split /\n/, $log // '';
is(scalar @hits, 0, 'php-fpm pool site-a saw none of these requests') or diag(join "\n", @hits);
