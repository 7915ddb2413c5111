<?php
header('Content-Type: text/plain');
echo "hello from php pool ", getenv('VF_POOL'), "\n";
