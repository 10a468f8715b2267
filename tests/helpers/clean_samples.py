"""Sample documents for the clean tests: modern prose, classical poems and junk, written for these
tests (poems are public-domain classics)."""

from __future__ import annotations

#: Modern prose the default zh profile must keep.
MODERN = {
    "news": (
        "据新华社报道，今年上半年我国新能源汽车产销量继续保持增长势头，产量和销量分别达到"
        "三百八十多万辆和三百七十多万辆，同比增长超过四成。业内人士表示，随着充电基础设施"
        "不断完善和电池成本持续下降，越来越多的消费者开始考虑购买电动汽车。\n\n"
        "与此同时，汽车出口也成为市场的一大亮点。多家车企负责人在接受采访时说，海外市场"
        "对中国品牌的认可度正在提高，但企业也面临着贸易壁垒和本地化经营等挑战。"
    ),
    "essay": (
        "小时候，我家门前有一棵老槐树。每到夏天，树荫把整个院子都遮住了，奶奶就搬一把竹椅"
        "坐在树下，一边摇着蒲扇，一边给我们讲她年轻时候的故事。那些故事我早已记不全了，"
        "只记得她说话时总是笑眯眯的。\n后来我到城里读书，再后来又去了更远的地方工作，回家的"
        "次数越来越少。去年秋天回去，才发现那棵槐树已经被砍掉了，院子里空荡荡的，只剩下"
        "一个矮矮的树桩。"
    ),
    "tech": (
        "在深度学习中，批量归一化（Batch Normalization）是一种常用的技术，它通过对每一层的"
        "输入进行标准化，使训练过程更加稳定。具体来说，它在每个小批量上计算均值和方差，"
        "然后用它们对数据进行归一化，再通过可学习的缩放和平移参数恢复模型的表达能力。\n"
        "需要注意的是，批量较小时统计量的估计并不准确，这时可以考虑使用层归一化或组归一化。"
        "例如在 PyTorch 中，只需要把 nn.BatchNorm2d 换成 nn.GroupNorm 即可。"
    ),
    "qa": (
        "问：孩子今年五岁，总是不爱吃蔬菜，有什么好办法吗？\n"
        "答：这是很多家长都会遇到的问题。首先不要强迫孩子吃，否则他会更加抗拒。可以试着让"
        "孩子参与买菜和做饭，把蔬菜切成有趣的形状，或者和他喜欢的食物搭配在一起。另外，"
        "家长自己也要以身作则，在饭桌上多吃蔬菜。坚持一段时间后，孩子的口味往往会慢慢改变。"
    ),
    "traditional": (
        "臺北市政府今日宣布，為了改善交通壅塞的問題，將在明年起擴大公車專用道的範圍，"
        "並且增加捷運尖峰時段的班次。市府發言人表示，這項計畫已經過多次的評估與討論，"
        "預計可以讓通勤時間平均縮短一成左右。"
    ),
}

#: Junk the default zh profile must drop, with the reason we expect.
JUNK = {
    "boilerplate": (
        "首页\n新闻\n体育\n娱乐\n财经\n科技\n汽车\n房产\n登录\n注册\n"
        "版权所有 © 2023 某某网 京ICP备12345678号",
        {"list_like", "low_line_punct", "few_stopwords"},
    ),
    "repeated_lines": (
        "点击这里下载最新版本的应用程序。\n" * 12,
        {"dup_lines", "dup_line_chars"},
    ),
    "symbol_soup": (
        "★☆★☆★☆■□■□■□●○●○●○→←↑↓→←↑↓※※※§§§ 的人在是有了和 ★☆★☆ ◆◇◆◇ ▲△▲△ ♥♥♥♥" * 3,
        {"high_symbol_ratio", "low_cjk_ratio"},
    ),
    "spam": (
        "免费下载高清电影 免费下载高清电影 最新电影免费看 免费下载高清电影 最新电影免费看 "
        "免费下载高清电影 在线观看 免费下载高清电影 的 是 最新电影免费看 免费下载高清电影",
        {"top_2gram", "top_3gram", "top_4gram", "dup_5gram", "low_line_punct"},
    ),
    "laughter": ("哈" * 200 + "。", {"top_2gram", "few_stopwords"}),
    "english_page": (
        "Copyright 2023 All rights reserved. Powered by WordPress. Privacy Policy | Terms of Use "
        "| Contact us | Sitemap. This website uses cookies to improve your experience.",
        {"low_cjk_ratio"},
    ),
    "keywords": (
        "北京 上海 广州 深圳 杭州 南京 成都 重庆 武汉 西安 天津 苏州 郑州 长沙 沈阳 青岛 "
        "宁波 东莞 无锡 厦门 福州 济南 大连 合肥 昆明 哈尔滨 石家庄 南宁 长春 南昌 贵阳",
        {"low_line_punct", "few_stopwords"},
    ),
    "only_punctuation": ("，。！？……——“”《》、；：" * 5, {"low_cjk_ratio"}),
}

#: Real poems and classics (public domain) that the per-dataset thresholds must keep.
POEMS = [
    "靜夜思\n床前明月光，疑是地上霜。\n舉頭望明月，低頭思故鄉。",
    "登鸛雀樓\n白日依山盡，黃河入海流。\n欲窮千里目，更上一層樓。",
    "句\n在室愧屋漏。",
    "長相思\n長相思。\n長相思。\n若問相思甚了期。\n除非相見時。",
    "如梦令\n常记溪亭日暮，沉醉不知归路。\n兴尽晚回舟，误入藕花深处。\n争渡，争渡，惊起一滩鸥鹭。",
    "桃夭\n桃之夭夭，灼灼其华。之子于归，宜其室家。\n桃之夭夭，有蕡其实。之子于归，宜其家室。\n"
    "桃之夭夭，其叶蓁蓁。之子于归，宜其家人。",
    "江南\n江南可采莲，莲叶何田田。鱼戏莲叶间。\n鱼戏莲叶东，鱼戏莲叶西，鱼戏莲叶南，鱼戏莲叶北。",
]

#: Junk a poem dataset must still drop (whatever its thresholds).
POEM_JUNK = [
    "。",
    "水龙吟\n（缺词文）",
    "失调名\n□□□□□，□□□□□。\n□□□□□，□□□□□。",
    "春江花月夜",
    "床前明月光，疑是地上霜。\n" * 8,
    "哈" * 60,
    "免费下载高清电影，免费下载高清电影，免费下载高清电影，免费下载高清电影。",
]
