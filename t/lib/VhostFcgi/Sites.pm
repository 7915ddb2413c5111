package VhostFcgi::Sites;
# The two tenant sites of the pool tests (t/pools, issue 3), laid out as in
# DESIGN's problem statement: each site's files belong to the site's group,
# are group-readable only (files 0640, directories 0750, nothing for
# others), PHP runs as a user of its own whose primary group is the site's
# group, and httpd's User is a member of both groups so it can serve the
# static files.  Only the uploads directory is writable by the site's PHP.
#
# Called by scripts/run-itest (as root, after creating the users):
#
#   perl -I t/lib -MVhostFcgi::Sites -e 'VhostFcgi::Sites::build(@ARGV)' \
#        SITES_DIR OWNER A_USER A_GROUP B_USER B_GROUP
#
# OWNER owns the sites' files (root in CI: the admin, not the tenant's
# PHP).  As non-root every name is the caller's own and no chown happens.
#
#   SITES_DIR/a/htdocs   site A's DocumentRoot (pool site-a)
#   SITES_DIR/a/extra    outside the DocumentRoot: an Alias target
#   SITES_DIR/b/htdocs   site B's DocumentRoot (pool site-b)
#
# Marker strings a test looks for in a response are built by PHP from two
# halves ('EVIL-' . 'EXECUTED'), so the raw file, served as a static file,
# never contains them: seeing one proves the code ran.
use strict;
use warnings;

use File::Path qw(make_path);
use POSIX ();

# The request environment as NAME=VALUE lines (as t/htdocs/php/env.php),
# plus X_* lines saying which script ran, as whom, with which settings.
sub env_script {
    my $name = shift;
    my $php = <<'EOF';
<?php
// @@NAME@@: dumps the CGI environment as "NAME=VALUE" lines, sorted by
// name ("\" and newlines escaped), plus X_* lines about the script and PHP.
header('Content-Type: text/plain');
$vars = $_SERVER;
$vars['X_SCRIPT'] = '@@NAME@@';
$vars['X_RAN'] = 'SCRIPT-' . 'RAN';
$vars['X_FIX_PATHINFO'] = (string) ini_get('cgi.fix_pathinfo');
$vars['X_POOL'] = (string) getenv('VF_POOL');
$status = (string) @file_get_contents('/proc/self/status');
$vars['X_UID'] = preg_match('/^Uid:\s+(\d+)/m', $status, $m) ? $m[1] : '?';
ksort($vars);
foreach ($vars as $k => $v) {
    if (!is_scalar($v)) {
        continue;
    }
    echo $k, '=', strtr((string) $v, ["\\" => "\\\\", "\n" => "\\n"]), "\n";
}
EOF
    $php =~ s/\@\@NAME\@\@/$name/g;
    return $php;
}

# Prints the php.ini values a tenant might try to change.
my $ini_script = <<'EOF';
<?php
header('Content-Type: text/plain');
echo 'X_RAN=SCRIPT-', 'RAN', "\n";
echo 'X_MEMORY_LIMIT=', ini_get('memory_limit'), "\n";
echo 'X_PRECISION=', ini_get('precision'), "\n";
EOF

# file_get_contents() of ?f=PATH, as this site's PHP user.
my $read_script = <<'EOF';
<?php
header('Content-Type: text/plain');
$f = isset($_GET['f']) ? $_GET['f'] : '';
$data = @file_get_contents($f);
if ($data === false) {
    $e = error_get_last();
    echo "X_READ=FAIL\nX_ERROR=", $e ? strtr($e['message'], "\n", ' ') : '?', "\n";
} else {
    echo "X_READ=OK\nX_CONTENT=", strtr($data, "\n", ' '), "\n";
}
EOF

# A GIF an attacker uploaded: a valid GIF header, PHP code after it.
my $evil_gif = "GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04"
    . "\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
    . "<?php echo \"\\nX_EVIL=EVIL-\" . \"EXECUTED\\n\"; ?>\n";

sub marker_script {
    my ($name, $marker_a, $marker_b) = @_;
    return "<?php\nheader('Content-Type: text/plain');\n"
         . "echo 'X_SCRIPT=$name', \"\\n\", 'X_MARK=$marker_a', '$marker_b', \"\\n\";\n";
}

# [path relative to the site dir, content or undef for a directory,
#  mode, special ownership]
sub site_a_files {
    return (
        ['htdocs', undef],
        ['htdocs/index.html', "<p>site A home</p>\n"],
        ['htdocs/s.php', env_script('s.php')],
        ['htdocs/private', undef],
        ['htdocs/private/other.php', marker_script('private/other.php', 'OTHER-', 'RAN')],
        ['htdocs/secret.txt', "SITE-A-SECRET\n"],
        ['htdocs/read.php', $read_script],
        ['htdocs/uploads', undef, 0770, 'php'],
        ['htdocs/uploads/evil.gif', $evil_gif, 0640, 'php'],
        ['htdocs/uploads/x.php', marker_script('uploads/x.php', 'UPLOADX-', 'RAN'), 0640, 'php'],
        ['htdocs/dir.php', undef],
        ['htdocs/dir.php/inner.txt', "inside a directory named dir.php\n"],
        ['htdocs/x.php.txt', marker_script('x.php.txt', 'XTXT-', 'EXECUTED')],
        ['htdocs/x.PHP', marker_script('x.PHP', 'XUPPER-', 'EXECUTED')],
        (map {
            my $order = $_;
            (["htdocs/$order", undef],
             ["htdocs/$order/only-php", undef],
             ["htdocs/$order/only-php/index.php", marker_script("$order/only-php/index.php", 'INDEX-PHP-', 'RAN')],
             ["htdocs/$order/only-html", undef],
             ["htdocs/$order/only-html/index.html", "INDEX-HTML static ($order)\n"])
        } qw(idx-php-first idx-html-first)),
        (map { ["htdocs/$_", undef] } qw(links-nofollow links-ownermatch links-follow)),
        ['htdocs/foreign.php', marker_script('foreign.php', 'FOREIGN-', 'RAN'), 0640, 'other-group'],
        # VhostFcgiScriptOwner pool with VhostFcgiCheckScript Off (t/pools/09).
        ['htdocs/owner-off', undef],
        ['htdocs/owner-off/foreign.php', marker_script('owner-off/foreign.php', 'FOREIGN-', 'RAN'), 0640, 'other-group'],
        ['htdocs/owner-off/own.php', marker_script('owner-off/own.php', 'OWN-', 'RAN')],
        ['htdocs/tenant', undef],
        ['htdocs/tenant/.htaccess',
         qq{SetEnv PHP_ADMIN_VALUE "memory_limit=7M"\nSetEnv PHP_VALUE "precision=3"\n}],
        ['htdocs/tenant/ini.php', $ini_script],
        ['htdocs/tenant-setenvif', undef],
        ['htdocs/tenant-setenvif/.htaccess',
         qq{SetEnvIf Request_URI "." PHP_ADMIN_VALUE=memory_limit=8M\n}],
        ['htdocs/tenant-setenvif/ini.php', $ini_script],
        ['htdocs/tenant-rewrite', undef],
        ['htdocs/tenant-rewrite/.htaccess',
         qq{RewriteEngine On\nRewriteRule "^" "-" [E=PHP_ADMIN_VALUE:memory_limit=6M]\n}],
        ['htdocs/tenant-rewrite/ini.php', $ini_script],
        ['htdocs/tenant-envif', undef],
        ['htdocs/tenant-envif/.htaccess',
         qq{ProxyFCGISetEnvIf "true" PHP_ADMIN_VALUE "memory_limit=9M"\nProxyFCGISetEnvIf "true" PHP_VALUE "precision=4"\n}],
        ['htdocs/tenant-envif/ini.php', $ini_script],
        # An .htaccess the test writes (it names site B's socket).
        ['htdocs/tenant-handler', undef],
        ['htdocs/tenant-handler/who.php', env_script('tenant-handler/who.php')],
        ['htdocs/tenant-poolhandler', undef],
        ['htdocs/tenant-poolhandler/.htaccess',
         qq{<Files "evil.gif">\nSetHandler vhostfcgi-pool\n</Files>\n}],
        ['htdocs/tenant-poolhandler/evil.gif', $evil_gif],
        # Control variables from an including document or an
        # AllowOverrideList (t/pools/10-htaccess-env.t).
        ['htdocs/ssi', undef],
        ['htdocs/ssi/page.shtml',
         qq{<!--#set var="PHP_ADMIN_VALUE" value="memory_limit=5M" -->\n<!--#include virtual="ini.php" -->\n}],
        ['htdocs/ssi/ini.php', $ini_script],
        ['htdocs/listed', undef],
        ['htdocs/listed/.htaccess', qq{SetEnv PHP_ADMIN_VALUE "memory_limit=4M"\n}],
        ['htdocs/listed/ini.php', $ini_script],
        # Handlers a tenant sets after the script check
        # (t/pools/17-late-handlers.t writes the .htaccess files).
        ['htdocs/tenant-late', undef],
        ['htdocs/tenant-late/who.php', env_script('tenant-late/who.php')],
        ['htdocs/tenant-late/evil.gif', $evil_gif],
        ['htdocs/tenant-late/code.txt', marker_script('tenant-late/code.txt', 'TXT-', 'RAN')],
        # VhostFcgiExtensions .php .phtml, and VhostFcgiPool none (t/pools/19).
        ['htdocs/ext', undef],
        ['htdocs/ext/page.phtml', marker_script('ext/page.phtml', 'PHTML-', 'RAN')],
        ['htdocs/ext/s.php', marker_script('ext/s.php', 'EXTPHP-', 'RAN')],
        ['htdocs/nopool', undef],
        ['htdocs/nopool/x.php', marker_script('nopool/x.php', 'NOPOOL-', 'RAN')],
        ['htdocs/tenant-admin-proxy', undef],
        ['htdocs/tenant-admin-proxy/who.php', env_script('tenant-admin-proxy/who.php')],
        # Tenants opening the status page (t/pools/15-status-htaccess.t).
        ['htdocs/tenant-status', undef],
        ['htdocs/tenant-status/.htaccess', qq{SetHandler vhostfcgi-status\n}],
        ['htdocs/tenant-status-rw', undef],
        ['htdocs/tenant-status-rw/.htaccess',
         qq{RewriteEngine On\nRewriteRule "^" "-" [H=vhostfcgi-status]\n}],
        ['htdocs/tenant-status-rw/page.html', "PAGE\n"],
        ['htdocs/tenant-status-add', undef],
        ['htdocs/tenant-status-add/.htaccess', qq{AddHandler vhostfcgi-status .txt\n}],
        ['htdocs/tenant-status-add/s.txt', "TEXT\n"],
        ['htdocs/tenant-rw', undef],
        ['htdocs/tenant-rw/.htaccess',
         qq{RewriteEngine On\nRewriteRule "^old\\.php\$" "new.php" [L]\n}],
        ['htdocs/tenant-rw/old.php', marker_script('tenant-rw/old.php', 'OLD-', 'RAN')],
        ['htdocs/tenant-rw/new.php', marker_script('tenant-rw/new.php', 'NEW-', 'RAN')],
        ['htdocs/fallback', undef],
        ['htdocs/conf.phtml', qq{<?php \$db_password = "PHTML-SOURCE-SECRET";\n}],
        ['htdocs/dropin-other', undef],
        ['htdocs/dropin-other/who.php', env_script('dropin-other/who.php')],
        ['htdocs/dropin-other/conf.phtml', qq{<?php \$db_password = "PHTML-SOURCE-SECRET";\n}],
        ['htdocs/admin-set', undef],
        ['htdocs/admin-set/.htaccess', qq{SetEnv PHP_ADMIN_VALUE "memory_limit=7M"\n}],
        ['htdocs/admin-set/ini.php', $ini_script],
        ['htdocs/admin-setenv', undef],
        ['htdocs/admin-setenv/ini.php', $ini_script],
        ['htdocs/plain', undef],
        ['htdocs/plain/ini.php', $ini_script],
        ['htdocs/nopi', undef],
        ['htdocs/nopi/s.php', env_script('nopi/s.php')],
        ['extra', undef],
        ['extra/run.php', env_script('extra/run.php')],
        ['extra/pic.gif', $evil_gif],
    );
}

sub site_b_files {
    return (
        ['htdocs', undef],
        ['htdocs/index.html', "<p>site B home</p>\n"],
        ['htdocs/s.php', env_script('s.php')],
        ['htdocs/private', undef],
        ['htdocs/private/other.php', marker_script('private/other.php', 'OTHER-', 'RAN')],
        ['htdocs/nopi', undef],
        ['htdocs/nopi/s.php', env_script('nopi/s.php')],
        ['htdocs/page.html', "SITE-B-PAGE\n"],
        ['htdocs/secret.txt', "SITE-B-SECRET\n"],
        ['htdocs/read.php', $read_script],
        ['htdocs/uploads', undef, 0770, 'php'],
        ['htdocs/uploads/evil.gif', $evil_gif, 0640, 'php'],
    );
}

sub ids {
    my ($user, $group) = @_;
    my $uid = getpwnam($user);
    defined $uid or die "no user $user\n";
    my $gid = getgrnam($group);
    defined $gid or die "no group $group\n";
    return ($uid, $gid);
}

sub lay_out {
    my (%o) = @_;
    my $owner_uid = $o{owner_uid};
    for my $f (@{ $o{files} }) {
        my ($rel, $content, $mode, $who) = @$f;
        my $path = "$o{dir}/$rel";
        if (defined $content) {
            open my $fh, '>:raw', $path or die "$path: $!\n";
            print $fh $content;
            close $fh or die "$path: $!\n";
        }
        else {
            make_path($path);
        }
        $mode //= defined $content ? 0640 : 0750;
        my ($uid, $gid) = ($owner_uid, $o{gid});
        if (($who // '') eq 'php') { $uid = $o{php_uid} }
        elsif (($who // '') eq 'other-group') { $gid = $o{other_gid} }
        if ($> == 0) {
            chown $uid, $gid, $path or die "chown $path: $!\n";
        }
        chmod $mode, $path or die "chmod $path: $!\n";
    }
}

# A symlink owned by $uid:$gid (lchown: the link itself, not its target).
sub link_as {
    my ($target, $link, $uid, $gid) = @_;
    unlink $link;
    symlink $target, $link or die "symlink $link: $!\n";
    if ($> == 0) {
        POSIX::lchown($uid, $gid, $link) or die "lchown $link: $!\n";
    }
}

sub build {
    my ($dir, $owner, $a_user, $a_group, $b_user, $b_group) = @_;
    die "usage: build SITES_DIR OWNER A_USER A_GROUP B_USER B_GROUP\n" unless $b_group;
    my $owner_uid = getpwnam($owner);
    defined $owner_uid or die "no user $owner\n";
    my ($a_uid, $a_gid) = ids($a_user, $a_group);
    my ($b_uid, $b_gid) = ids($b_user, $b_group);

    make_path($dir);
    chmod 0755, $dir;
    for my $site (['a', $a_gid], ['b', $b_gid]) {
        my $sd = "$dir/$site->[0]";
        make_path($sd);
        chown $owner_uid, $site->[1], $sd if $> == 0;
        chmod 0750, $sd or die "chmod $sd: $!\n";
    }
    lay_out(dir => "$dir/a", files => [site_a_files()], owner_uid => $owner_uid,
            gid => $a_gid, php_uid => $a_uid, other_gid => $b_gid);
    lay_out(dir => "$dir/b", files => [site_b_files()], owner_uid => $owner_uid,
            gid => $b_gid, php_uid => $b_uid, other_gid => $a_gid);

    # Symlinks from site A into site B, created by site A's PHP (so owned
    # by A's PHP user, unlike their targets), in directories with
    # different Options; plus one link of the admin's own to site A's home
    # page, which SymLinksIfOwnerMatch allows.
    my $a = "$dir/a/htdocs";
    my $b = "$dir/b/htdocs";
    for my $d (qw(links-nofollow links-ownermatch links-follow)) {
        link_as("$b/page.html", "$a/$d/b-page.html", $a_uid, $a_gid);
        link_as("$b/s.php",     "$a/$d/b-script.php", $a_uid, $a_gid);
        link_as("$a/index.html", "$a/$d/own-page.html", $owner_uid, $a_gid);
    }
    # A script's name on a GIF, and on a script (t/pools/16-symlink-name.t).
    link_as("$a/uploads/evil.gif", "$a/links-follow/gif.php", $a_uid, $a_gid);
    link_as("$a/s.php", "$a/links-follow/script.php", $a_uid, $a_gid);
    return 1;
}

1;
