# Request bodies reach php-fpm intact and streamed: form posts, multipart
# uploads, a 100 MB Content-Length upload in bounded httpd memory, and
# chunked uploads, which must arrive with a correct CONTENT_LENGTH.
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use Digest::MD5 qw(md5_hex);
use VhostFcgi::Test qw(:all);

plan tests => 29;

use constant MB => 1024 * 1024;
# How much an httpd child may grow while it streams a big body.
use constant RSS_LIMIT_KB => 16 * 1024;

# A generator of $total bytes in pieces of $piece bytes, all different
# (a random 1 MB block, each piece prefixed with its number); the md5 of
# everything generated so far is kept in $state->{md5}.
sub body_source {
    my ($total, $piece, $state) = @_;
    my $block = pack 'N*', map { int rand 2**32 } 1 .. (MB / 4);
    my $sent = 0;
    my $n = 0;
    $state->{md5} = Digest::MD5->new;
    return sub {
        return undef if $sent >= $total;
        my $len = $total - $sent < $piece ? $total - $sent : $piece;
        my $data = substr(pack('N', $n++) . $block, 0, $len);
        $data .= substr($block, 0, $len - length $data) while length $data < $len;
        $sent += $len;
        $state->{md5}->add($data);
        $state->{sent} = $sent;
        $state->{on_piece}->($sent) if $state->{on_piece};
        return $data;
    };
}

# Samples the httpd children's RSS while a big body streams; returns the
# largest growth over the baseline of any child, in kB.
sub rss_watch {
    my $base = children_rss_kb();
    my %peak = %$base;
    my $sample = sub {
        my $now = children_rss_kb();
        for (keys %$now) { $peak{$_} = $now->{$_} if $now->{$_} > ($peak{$_} // 0) }
    };
    my $growth = sub {
        my $max = 0;
        for (keys %peak) {
            next unless exists $base->{$_};   # a child started meanwhile
            my $g = $peak{$_} - $base->{$_};
            $max = $g if $g > $max;
        }
        return $max;
    };
    return ($sample, $growth, $base);
}

sub report { my $res = shift; return parse_env($res->{body}) }

# --- a small form post -----------------------------------------------------
{
    my $res = raw_request('vf_unix', 'POST', '/php/upload.php',
        headers => ['Content-Type' => 'application/x-www-form-urlencoded'],
        body => 'a=1&b=hello+world');
    my $r = report($res);
    is($res->{status}, 200, 'form POST answers 200');
    is($r->{POST_a}, '1', 'form field a arrives');
    is($r->{POST_b}, 'hello world', 'form field b arrives');
}

# --- a multipart upload of a 1 MB file -----------------------------------
{
    my $file = join '', map { chr(($_ * 7) % 256) } 0 .. (MB - 1);
    my $bnd = 'vhostfcgiBoundary' . int rand 1e9;
    my $body = "--$bnd\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhi\r\n"
             . "--$bnd\r\nContent-Disposition: form-data; name=\"up\"; filename=\"f.bin\"\r\n"
             . "Content-Type: application/octet-stream\r\n\r\n$file\r\n--$bnd--\r\n";
    my $res = raw_request('vf_unix', 'POST', '/php/upload.php',
        headers => ['Content-Type' => "multipart/form-data; boundary=$bnd"],
        body => $body);
    my $r = report($res);
    is($res->{status}, 200, 'multipart upload answers 200');
    is($r->{POST_note}, 'hi', 'multipart: form field arrives');
    is($r->{FILE_up}, 'f.bin ' . MB . ' ' . md5_hex($file) . ' error=0',
       'multipart: the file arrives whole ($_FILES size and md5)');
}

# Warm the children up, so first-use allocations are not counted as growth.
for (1 .. 4) {
    my %s;
    raw_request('vf_unix', 'POST', '/php/upload.php', length => 4 * MB,
                body_cb => body_source(4 * MB, 256 * 1024, \%s));
}

# --- 100 MB with Content-Length ------------------------------------------
{
    my $total = 100 * MB;
    my %s;
    my ($sample, $growth, $base) = rss_watch();
    ok(keys(%$base) >= 1, 'found the httpd children to measure')
        or diag('no httpd children found via ' . VhostFcgi::Test::t_logs_dir() . '/httpd.pid');
    note('httpd children RSS (kB): ' . join ', ', map { "$_=$base->{$_}" } sort keys %$base);
    my $next = 0;
    $s{on_piece} = sub { if ($_[0] >= $next) { $sample->(); $next += 4 * MB } };
    my $res = raw_request('vf_unix', 'POST', '/php/upload.php',
        headers => ['Content-Type' => 'application/octet-stream'],
        length => $total, body_cb => body_source($total, 256 * 1024, \%s),
        timeout => 120);
    $sample->();
    my $r = report($res);
    is($res->{status}, 200, '100 MB Content-Length POST answers 200');
    is($r->{CONTENT_LENGTH}, $total, '100 MB: CONTENT_LENGTH');
    is($r->{INPUT_LENGTH}, $total, '100 MB: php://input has every byte');
    is($r->{INPUT_MD5}, $s{md5}->hexdigest, '100 MB: md5 of what PHP read matches');
    my $g = $growth->();
    cmp_ok($g, '<=', RSS_LIMIT_KB, '100 MB: httpd child RSS grew at most 16 MB')
        or diag("RSS growth ${g} kB");
    note("100 MB upload: ${g} kB RSS growth, $res->{elapsed} s");
}

# --- chunked request bodies ------------------------------------------------
# A chunked body has no length up front, but php-fpm needs CONTENT_LENGTH:
# the handler must find out the real length (spooling the body), never
# send the body without it or drop it.
my $chunked_todo = 'mod_proxy_fcgi sends a chunked body without CONTENT_LENGTH; php-fpm then reads no body';
{
    my $total = 100_000 + 17;
    my %s;
    my $res = raw_request('vf_unix', 'POST', '/php/upload.php',
        headers => ['Content-Type' => 'application/octet-stream'],
        chunked => 1, body_cb => body_source($total, 4099, \%s));
    my $r = report($res);
    is($res->{status}, 200, 'chunked POST answers 200');
    local $TODO = stock_todo($chunked_todo);
    is($r->{CONTENT_LENGTH}, $total, 'chunked POST: CONTENT_LENGTH is the real length');
    is($r->{INPUT_LENGTH}, $total, 'chunked POST: php://input has every byte');
    is($r->{INPUT_MD5}, $s{md5}->hexdigest, 'chunked POST: md5 matches');
}

{
    my $total = 64 * MB;
    my %s;
    my ($sample, $growth) = rss_watch();
    my $next = 0;
    $s{on_piece} = sub { if ($_[0] >= $next) { $sample->(); $next += 4 * MB } };
    my $res = raw_request('vf_unix', 'POST', '/php/upload.php',
        headers => ['Content-Type' => 'application/octet-stream'],
        chunked => 1, body_cb => body_source($total, 256 * 1024, \%s),
        timeout => 120);
    $sample->();
    my $r = report($res);
    is($res->{status}, 200, '64 MB chunked POST answers 200');
    my $g = $growth->();
    cmp_ok($g, '<=', RSS_LIMIT_KB, '64 MB chunked: httpd child RSS grew at most 16 MB')
        or diag("RSS growth ${g} kB");
    note("64 MB chunked upload: ${g} kB RSS growth, $res->{elapsed} s");
    local $TODO = stock_todo($chunked_todo);
    is($r->{CONTENT_LENGTH}, $total, '64 MB chunked: CONTENT_LENGTH is the real length');
    is($r->{INPUT_LENGTH}, $total, '64 MB chunked: php://input has every byte');
    is($r->{INPUT_MD5}, $s{md5}->hexdigest, '64 MB chunked: md5 matches');
}

# --- the same through the misbehaving backend's echo (no PHP involved) ----
SKIP: {
    skip 'fcgi-misbehave not built', 8 unless misbehave_available();
    my $total = 3 * MB + 5;
    my %s;
    my $sum = 0;
    my $src = body_source($total, 65536, \%s);
    my $cb = sub { my $d = $src->(); $sum = ($sum + unpack('%32C*', $d)) % 2**32 if defined $d; $d };
    my $res = raw_request('vf_fault', 'POST', '/mb/echo', length => $total, body_cb => $cb,
        headers => ['Content-Type' => 'application/octet-stream']);
    my $e = parse_env($res->{body});
    is($res->{status}, 200, 'echo backend: Content-Length POST answers 200');
    is($e->{CONTENT_LENGTH}, $total, 'echo backend: CONTENT_LENGTH param');
    is($e->{STDIN_BYTES}, $total, 'echo backend: every body byte arrived on FCGI_STDIN');
    is($e->{STDIN_SUM}, $sum, 'echo backend: byte sum matches');

    $sum = 0;
    $src = body_source($total, 65536, \%s);
    $res = raw_request('vf_fault', 'POST', '/mb/echo', chunked => 1, body_cb => $cb,
        headers => ['Content-Type' => 'application/octet-stream']);
    $e = parse_env($res->{body});
    is($res->{status}, 200, 'echo backend: chunked POST answers 200');
    is($e->{STDIN_BYTES}, $total, 'echo backend: every chunked byte arrived');
    is($e->{STDIN_SUM}, $sum, 'echo backend: chunked byte sum matches');
    local $TODO = stock_todo($chunked_todo);
    is($e->{CONTENT_LENGTH}, $total, 'echo backend: chunked body gets CONTENT_LENGTH');
}
